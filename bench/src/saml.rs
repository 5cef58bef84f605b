//! `saml-acs`: a SAML connection and the signed responses to post to it.

use crate::Shared;
use serde_json::json;
use std::time::Instant;

/// A SAML connection that allows IdP-initiated sign-in, trusting a new test IdP, and
/// `--max-requests` signed responses for it (made on two threads).
pub(crate) async fn saml_setup(shared: &Shared, count: u64) -> Result<(String, Vec<String>), String> {
    use roster_testidp::{post_field, Idp, Shape, Spec};
    let a = &shared.args;
    let admin = |method: reqwest::Method, path: String, body: serde_json::Value| {
        shared
            .client
            .request(method, format!("{}/api/v1{path}", a.base))
            .bearer_auth(&a.token)
            .json(&body)
            .send()
    };
    let idp = Idp::rsa("https://idp.bench.test/app");
    let company = format!("bench-{}", std::process::id());
    let steps = [
        ("/organizations".to_string(), json!({ "name": company })),
        (format!("/companies/{company}/domains"), json!({ "domain": a.domain })),
        (
            format!("/companies/{company}/domains/{}/verify", a.domain),
            json!({ "method": "manual" }),
        ),
    ];
    for (path, body) in steps {
        let r = admin(reqwest::Method::POST, path.clone(), body)
            .await
            .map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err(format!("{path}: {}", r.status()));
        }
    }
    let r = admin(
        reqwest::Method::POST,
        "/connections".into(),
        json!({ "company": company, "name": format!("{company}-idp"), "protocol": "saml", "domains": [a.domain],
                "default_organization": company, "default_team": "everyone", "idp_initiated": true,
                "saml": { "idp_entity_id": idp.entity_id, "idp_sso_url": "https://idp.bench.test/sso",
                          "idp_certificates": [idp.certificate_pem] } }),
    )
    .await
    .map_err(|e| e.to_string())?;
    if !r.status().is_success() {
        return Err(format!(
            "creating the connection: {} {}",
            r.status(),
            r.text().await.unwrap_or_default()
        ));
    }
    let c: serde_json::Value = r.json().await.map_err(|e| e.to_string())?;
    let acs = c["acs_url"].as_str().ok_or("no acs_url")?.to_string();
    let sp = c["sp_entity_id"].as_str().ok_or("no sp_entity_id")?.to_string();
    let path = format!("/{}", acs.splitn(4, '/').nth(3).ok_or("an odd acs_url")?);
    let count = count.min(100_000);
    let users = a.users.max(1);
    let domain = a.domain.clone();
    let started = Instant::now();
    let forms: Vec<String> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2u64)
            .map(|w| {
                let (idp, acs, sp, domain) = (&idp, &acs, &sp, &domain);
                s.spawn(move || {
                    (0..count)
                        .filter(|i| i % 2 == w)
                        .map(|i| {
                            let shape = if i % 4 < 2 { Shape::Okta } else { Shape::Entra };
                            let spec = Spec::new(shape, acs, sp, &format!("sa{}@{domain}", i % users))
                                .attr("groups", &["bench:engineering", "Everyone"]);
                            let field = post_field(&idp.response(&spec));
                            format!("SAMLResponse={}", url_encode(&field))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap_or_default()).collect()
    });
    eprintln!(
        "made {} signed responses in {:.1}s",
        forms.len(),
        started.elapsed().as_secs_f64()
    );
    Ok((path, forms))
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
