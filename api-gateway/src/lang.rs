//! The language of `message` texts: English, or Korean when `Accept-Language`
//! prefers it (much of the traffic is Korean documents).

use axum::extract::FromRequestParts;
use axum::http::header::ACCEPT_LANGUAGE;
use axum::http::request::Parts;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lang {
    #[default]
    En,
    Ko,
}

impl Lang {
    /// The preferred supported language of an `Accept-Language` value: the
    /// highest-weighted tag that is English or Korean (the first on a tie).
    pub fn from_header(value: &str) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for item in value.split(',') {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let primary = tag.split('-').next().unwrap_or("");
            let lang = match primary {
                "ko" => Lang::Ko,
                "en" => Lang::En,
                _ => continue,
            };
            if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::En, |(_, l)| l)
    }

    /// Picks the text of this language.
    pub fn pick(self, en: impl Into<String>, ko: impl Into<String>) -> String {
        match self {
            Lang::En => en.into(),
            Lang::Ko => ko.into(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .headers
            .get(ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .map_or(Lang::En, Lang::from_header))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn korean_only_when_preferred() {
        assert_eq!(Lang::from_header("ko-KR,ko;q=0.9,en;q=0.8"), Lang::Ko);
        assert_eq!(Lang::from_header("en-US,ko;q=0.9"), Lang::En);
        assert_eq!(Lang::from_header("fr, ko;q=0.5"), Lang::Ko);
        assert_eq!(Lang::from_header("ko;q=0, en"), Lang::En);
        assert_eq!(Lang::from_header("de"), Lang::En);
        assert_eq!(Lang::from_header(""), Lang::En);
        assert_eq!(Lang::from_header("en;q=0.4, ko;q=0.6"), Lang::Ko);
    }
}
