//! Where every HTTP client of the daemon comes from (Microsoft services, RDAP, GeoIP downloads).
//!
//! reqwest is built without a TLS crypto provider of its own (`rustls-no-provider`, see the
//! workspace Cargo.toml): its default, aws-lc-rs, needs cmake and minutes more of a cold build,
//! while ring needs only the C compiler. [`client_builder`] installs ring before any client is
//! built; a client built straight from `reqwest::Client::builder()` elsewhere would panic on its
//! first use, so every one comes from here.
//!
//! [`OAuthHttp`] lets the `oauth2` crate send its token requests through our reqwest client, so
//! only one reqwest and hyper stack is built (oauth2's own `reqwest` feature is an older reqwest).

use oauth2::{AsyncHttpClient, HttpClientError, HttpRequest, HttpResponse};
use std::future::Future;
use std::pin::Pin;

/// `reqwest::Client::builder()`, with rustls's crypto provider (ring) installed for the process.
pub fn client_builder() -> reqwest::ClientBuilder {
    install_crypto_provider();
    reqwest::Client::builder()
}

fn install_crypto_provider() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        // An error means some other code installed a provider first; rustls then uses that one.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The `oauth2` crate's HTTP transport over one of our reqwest clients (which must follow no
/// redirects: a token endpoint must not be able to send the form elsewhere).
pub struct OAuthHttp<'a>(pub &'a reqwest::Client);

impl<'c> AsyncHttpClient<'c> for OAuthHttp<'_> {
    type Error = HttpClientError<reqwest::Error>;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, Self::Error>> + Send + Sync + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request = reqwest::Request::try_from(request).map_err(Box::new)?;
            let response = self.0.execute(request).await.map_err(Box::new)?;
            let mut answer = oauth2::http::Response::builder().status(response.status()).version(response.version());
            for (name, value) in response.headers() {
                answer = answer.header(name, value);
            }
            let body = response.bytes().await.map_err(Box::new)?.to_vec();
            answer.body(body).map_err(HttpClientError::Http)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_from_the_builder_has_a_crypto_provider() {
        // Without one, reqwest's rustls-no-provider build panics here.
        client_builder().build().expect("a client");
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }
}
