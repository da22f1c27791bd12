//! What `pdfx up` prints once every part is ready: where things are and what
//! a new user types next.

use std::net::SocketAddr;
use std::path::PathBuf;

pub struct Banner {
    pub gateway: SocketAddr,
    pub kubeconfig: PathBuf,
    pub data_dir: PathBuf,
    pub auth_disabled: bool,
    pub slots: usize,
}

impl Banner {
    /// The gateway URL a client on this machine uses (a wildcard bind is
    /// reached through loopback).
    pub fn url(&self) -> String {
        let mut addr = self.gateway;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        format!("http://{addr}")
    }

    pub fn text(&self) -> String {
        let url = self.url();
        let kubeconfig = self.kubeconfig.display();
        let auth = if self.auth_disabled {
            format!(
                "auth is OFF: anyone who can reach {} can submit and read tasks",
                self.gateway
            )
        } else {
            "auth is on: send an API key (Authorization: Bearer KEY)".to_owned()
        };
        let server = if url == "http://127.0.0.1:8080" {
            String::new()
        } else {
            format!(" --server {url}")
        };
        format!(
            "pdfx is ready ({auth})\n\
             \n  REST API    {url}\
             \n  console     {url}/  (drop PDFs in a browser)\
             \n  kubeconfig  {kubeconfig}\
             \n  data        {data}  ({slots} runner slot(s))\
             \n\
             \nTry:\
             \n  pdfx submit{server} some.pdf --languages kor+eng --wait\
             \n  curl -F file=@some.pdf {url}/extract/pdf\
             \n  curl {url}/extract/status/TASK_ID\
             \n  kubectl --kubeconfig {kubeconfig} get pdfx\
             \n\
             \nCtrl-C stops pdfx; starting it again on {data} resumes unfinished work.\n",
            data = self.data_dir.display(),
            slots = self.slots,
        )
    }

    pub fn print(&self) {
        println!("{}", self.text());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_banner_names_the_url_kubeconfig_and_next_commands() {
        let banner = Banner {
            gateway: "0.0.0.0:9000".parse().unwrap(),
            kubeconfig: "/data/.pdfx/kubeconfig".into(),
            data_dir: "/data/.pdfx".into(),
            auth_disabled: true,
            slots: 2,
        };
        let text = banner.text();
        assert!(text.contains("auth is OFF"), "{text}");
        assert!(text.contains("REST API    http://127.0.0.1:9000"), "{text}");
        assert!(
            text.contains("console     http://127.0.0.1:9000/"),
            "{text}"
        );
        assert!(
            text.contains("kubectl --kubeconfig /data/.pdfx/kubeconfig get pdfx"),
            "{text}"
        );
        assert!(
            text.contains("pdfx submit --server http://127.0.0.1:9000 some.pdf"),
            "{text}"
        );
        assert!(
            text.contains("curl -F file=@some.pdf http://127.0.0.1:9000/extract/pdf"),
            "{text}"
        );
    }
}
