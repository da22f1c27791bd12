//! One module per subcommand. Each returns the process exit code it wants, or
//! an error whose message is shown to the user.

pub mod cancel;
pub mod ls;
pub mod result;
pub mod status;
pub mod submit;

use crate::cli::ServerArgs;
use crate::client::{Client, ClientError};

pub(crate) fn client(server: &ServerArgs) -> Result<Client, ClientError> {
    Client::new(&server.server, server.api_key.clone())
}

/// Prints one JSON document on a line (for `--output json`).
pub(crate) fn print_json(value: &impl serde::Serialize) {
    match serde_json::to_string(value) {
        Ok(line) => println!("{line}"),
        Err(e) => eprintln!("error: encoding the output: {e}"),
    }
}
