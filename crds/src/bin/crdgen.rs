//! Prints the PdfExtraction CRD as YAML; `crds/pdfextraction.yaml` is its output.

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    match pdfx_crd::crd::crd_yaml() {
        Ok(yaml) => match std::io::stdout().write_all(yaml.as_bytes()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("crdgen: writing the CRD: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("crdgen: serialising the CRD: {e}");
            ExitCode::FAILURE
        }
    }
}
