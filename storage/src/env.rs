//! Names of the variables [`crate::S3Config::from_env`] reads. The operator
//! passes some of them to runner Jobs, so they are named once, here.

/// URL of an S3-compatible server.
pub const ENDPOINT: &str = "PDFX_S3_ENDPOINT";
/// Region.
pub const REGION: &str = "PDFX_S3_REGION";
/// Static access key id.
pub const ACCESS_KEY_ID: &str = "PDFX_S3_ACCESS_KEY_ID";
/// Static secret access key.
pub const SECRET_ACCESS_KEY: &str = "PDFX_S3_SECRET_ACCESS_KEY";
/// Session token of temporary static credentials.
pub const SESSION_TOKEN: &str = "PDFX_S3_SESSION_TOKEN";
/// `true`/`false`: path-style requests.
pub const FORCE_PATH_STYLE: &str = "PDFX_S3_FORCE_PATH_STYLE";
