//! Installing the PdfExtraction CRD into an emulator, as `kubectl apply` of
//! `crds/pdfextraction.yaml` would: created when absent, replaced (keeping its
//! metadata) when present, so that a restart with a newer pdfx updates it.

use crate::api::WriteOpts;
use crate::{ApiError, ApiServer};

/// Installs or updates the PdfExtraction CRD from `pdfx_crd::crd::crd()`.
pub async fn install_pdfx_crd(server: &ApiServer) -> Result<(), ApiError> {
    let crd = serde_json::to_value(pdfx_crd::crd::crd())
        .map_err(|e| ApiError::Internal(format!("serialising the PdfExtraction CRD: {e}")))?;
    let resource = server
        .resource("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        .ok_or(ApiError::NoSuchResource)?;
    let name = crd["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    match server.get(&resource, "", &name) {
        Ok(existing) => {
            let mut updated = crd;
            updated["metadata"] = existing["metadata"].clone();
            server
                .update(&resource, "", &name, updated, false, &WriteOpts::default())
                .await?;
        }
        Err(_) => {
            server
                .create(&resource, None, crd, &WriteOpts::default())
                .await?;
        }
    }
    Ok(())
}
