//! Local fakes of the Microsoft services, built to microsoft-apis.md section D: each on its own
//! loopback port, strict about what the documents require (form bodies, Bearer tokens with the right
//! audience, Accept headers, paging tokens), recording every request, with fault injection.

pub mod dataverse;
pub mod identity;
pub mod partner_center;

/// A request as a fake saw it, for assertions.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    pub(crate) fn of(req: &wiremock::Request) -> Recorded {
        Recorded {
            method: req.method.to_string(),
            path: req.url.path().to_string(),
            query: req.url.query().map(str::to_string),
            headers: req
                .headers
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
                .collect(),
            body: String::from_utf8_lossy(&req.body).into_owned(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Form fields of an `application/x-www-form-urlencoded` body (decoded with the URL parser the
/// request already carries).
pub(crate) fn form(req: &wiremock::Request) -> std::collections::HashMap<String, String> {
    let mut url = req.url.clone();
    url.set_query(Some(&String::from_utf8_lossy(&req.body)));
    url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// A one-off answer a fake gives instead of its normal one.
#[derive(Debug, Clone)]
pub struct Fault {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Answer late (past a client's timeout, to test it).
    pub delay: Option<std::time::Duration>,
}

impl Fault {
    pub fn status(status: u16, body: &str) -> Fault {
        Fault { status, headers: Vec::new(), body: body.into(), delay: None }
    }

    /// `429` with `Retry-After: secs` and Partner Center's documented body.
    pub fn throttled(secs: u64) -> Fault {
        Fault {
            status: 429,
            headers: vec![("Retry-After".into(), secs.to_string())],
            body: format!(r#"{{"statusCode":429,"message":"Rate limit is exceeded. Try again in {secs} seconds."}}"#),
            delay: None,
        }
    }

    pub(crate) fn respond(&self) -> wiremock::ResponseTemplate {
        let mut t = wiremock::ResponseTemplate::new(self.status).set_body_raw(self.body.clone(), "application/json");
        for (k, v) in &self.headers {
            t = t.insert_header(k.as_str(), v.as_str());
        }
        if let Some(d) = self.delay {
            t = t.set_delay(d);
        }
        t
    }
}
