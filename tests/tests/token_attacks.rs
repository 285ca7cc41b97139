//! Token attacks: every forged, altered, confused or out-of-date access token is answered 401,
//! with the shared error body and a `WWW-Authenticate: Bearer` challenge.
//!
//! Tokens that need a valid signature (wrong audience, wrong issuer, out of date, a claim
//! missing) are signed with the server's own private key, read from the test database (and
//! opened with the key-encryption key the in-process server seals it with), so each test proves
//! that one check and not merely that the signature is checked. The forger checks first that an
//! unaltered forgery IS accepted, so a refusal means the alteration was caught.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, EncodingKey};
use livingwell_server::auth::sealing::{KeyEncryptionKey, StoredKey};
use livingwell_tests::{Backend, Session, TestServer, on_both_databases, read};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_databases!(
    a_correctly_forged_token_is_accepted,
    alg_none_in_any_casing_is_refused,
    hmac_signed_with_the_public_key_is_refused,
    wrong_audience_is_refused,
    wrong_issuer_is_refused,
    expired_beyond_leeway_is_refused,
    not_yet_valid_beyond_leeway_is_refused,
    clock_skew_within_leeway_is_tolerated,
    each_missing_claim_is_refused,
    tampered_payload_is_refused,
    signature_from_another_key_is_refused,
    unknown_or_missing_kid_is_refused,
    hostile_kid_is_refused_and_the_server_carries_on,
    missing_or_wrong_typ_is_refused,
    refresh_token_as_access_token_is_refused,
    staff_token_with_rewritten_audience_is_refused,
    app_token_re_signed_for_staff_audience_is_refused,
    session_of_another_account_is_refused,
    subject_that_is_no_account_is_refused,
    missing_or_malformed_authorization_is_refused,
);

const APP_AUDIENCE: &str = "urn:livingwell/app";
const STAFF_AUDIENCE: &str = "urn:livingwell/staff-api";
const ISSUER: &str = "urn:livingwell";

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn b64_json(value: &Value) -> String {
    b64(serde_json::to_vec(value).unwrap())
}

/// The decoded header or payload (`part` 0 or 1) of a compact JWT.
fn decode_part(token: &str, part: usize) -> Value {
    let segment = token.split('.').nth(part).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Signs `header.payload` with `key` as given, whatever the header says.
fn sign(header: &Value, claims: &Value, key: &EncodingKey, algorithm: Algorithm) -> String {
    let input = format!("{}.{}", b64_json(header), b64_json(claims));
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), key, algorithm).unwrap();
    format!("{input}.{signature}")
}

/// Calls `GET /v1/me` with `token` and checks the refusal is a clean 401 challenge.
async fn assert_refused(server: &TestServer, token: &str, what: &str) {
    let reply = server.get("/v1/me", token).await;
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "{what}: {}",
        reply.text
    );
    assert_eq!(reply.code(), "unauthorized", "{what}: {}", reply.text);
    assert!(
        reply.body["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{what}: {}",
        reply.text
    );
    let challenge = reply
        .headers
        .get("www-authenticate")
        .unwrap_or_else(|| panic!("{what}: no WWW-Authenticate header"))
        .to_str()
        .unwrap();
    assert!(
        challenge.starts_with("Bearer "),
        "{what}: challenge {challenge:?}"
    );
}

async fn assert_accepted(server: &TestServer, token: &str, what: &str) {
    let reply = server.get("/v1/me", token).await;
    assert_eq!(reply.status, StatusCode::OK, "{what}: {}", reply.text);
    assert_eq!(reply.body["user"]["username"], "alex", "{what}");
}

/// Makes tokens with the server's own signing key.
struct Forger {
    kid: String,
    key: EncodingKey,
    der: Vec<u8>,
    /// The session (`sid`) of a real sign-in of alex.
    sid: Value,
    alex: Session,
}

impl Forger {
    /// Starts a server, signs alex in, loads the signing key, and checks that an unaltered
    /// forgery is accepted — so every refusal in the tests below is about the alteration.
    async fn start(backend: Backend) -> (TestServer, Forger) {
        let server = TestServer::start(backend).await.unwrap();
        let alex = server.login("alex").await;
        let records = server.store.signing_keys().await.unwrap();
        // The newest key signs; it is the first.
        let record = records.first().expect("a signing key");
        let issued_header = decode_part(&alex.access_token, 0);
        assert_eq!(issued_header["kid"], record.kid.as_str());
        let sid = decode_part(&alex.access_token, 1)["sid"].clone();
        assert!(sid.is_string(), "a real app token carries a sid");
        // Stored sealed; a server started in this process seals with this process's key.
        let StoredKey::Sealed(key) = KeyEncryptionKey::for_this_process()
            .open(&record.kid, &record.sealed_private_key)
            .expect("the signing key opens")
        else {
            panic!("the signing key is stored unsealed");
        };
        let der = key.to_pkcs8_der().unwrap().as_bytes().to_vec();
        let forger = Forger {
            kid: record.kid.clone(),
            key: EncodingKey::from_ed_der(&der),
            der,
            sid,
            alex,
        };
        assert_accepted(&server, &forger.token(), "the unaltered forgery").await;
        (server, forger)
    }

    fn header(&self) -> Value {
        json!({"alg": "EdDSA", "typ": "at+jwt", "kid": self.kid})
    }

    /// Claims as the server would issue them to alex, now.
    fn claims(&self) -> Value {
        let now = now();
        json!({
            "iss": ISSUER,
            "aud": APP_AUDIENCE,
            "sub": self.alex.user_id,
            "exp": now + 300,
            "nbf": now,
            "iat": now,
            "jti": uuid::Uuid::new_v4().to_string(),
            "sid": self.sid,
        })
    }

    fn sign(&self, header: &Value, claims: &Value) -> String {
        sign(header, claims, &self.key, Algorithm::EdDSA)
    }

    fn token(&self) -> String {
        self.sign(&self.header(), &self.claims())
    }

    /// A validly signed token whose claims were changed by `alter`.
    fn with_claims(&self, alter: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
        let mut claims = self.claims();
        alter(claims.as_object_mut().unwrap());
        self.sign(&self.header(), &claims)
    }

    /// A validly signed token whose header was changed by `alter`.
    fn with_header(&self, alter: impl FnOnce(&mut serde_json::Map<String, Value>)) -> String {
        let mut header = self.header();
        alter(header.as_object_mut().unwrap());
        self.sign(&header, &self.claims())
    }
}

async fn a_correctly_forged_token_is_accepted(backend: Backend) {
    let (server, forger) = Forger::start(backend).await;
    // Forger::start already checked one; check the claims match what the server issues.
    let real = decode_part(&forger.alex.access_token, 1);
    let forged_token = forger.token();
    let forged = decode_part(&forged_token, 1);
    for claim in ["iss", "aud", "sub", "sid"] {
        assert_eq!(real[claim], forged[claim], "{claim}");
    }
    assert_eq!(
        decode_part(&forged_token, 0),
        decode_part(&forger.alex.access_token, 0)
    );
    assert_accepted(&server, &forged_token, "forged with every claim right").await;
    // And the real token, of course.
    assert_accepted(&server, &forger.alex.access_token, "the issued token").await;
}

async fn alg_none_in_any_casing_is_refused(backend: Backend) {
    let (server, forger) = Forger::start(backend).await;
    let payload = b64_json(&forger.claims());
    for alg in ["none", "None", "NONE", "nOnE"] {
        for header in [
            json!({"alg": alg, "typ": "at+jwt", "kid": forger.kid}),
            json!({"alg": alg, "typ": "at+jwt"}),
            json!({"alg": alg}),
        ] {
            let unsigned = format!("{}.{payload}.", b64_json(&header));
            assert_refused(&server, &unsigned, &format!("alg {alg}, header {header}")).await;
        }
        // Keeping a real signature does not help either: it is over another header.
        let real_signature = forger.token().rsplit('.').next().unwrap().to_owned();
        let header = json!({"alg": alg, "typ": "at+jwt", "kid": forger.kid});
        let token = format!("{}.{payload}.{real_signature}", b64_json(&header));
        assert_refused(&server, &token, &format!("alg {alg} with a signature")).await;
    }
}

/// The public key as a PEM SubjectPublicKeyInfo, as a JWKS-to-PEM tool would write it.
fn public_key_pem(raw: &[u8]) -> String {
    // SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING { 0 unused bits, key } }
    let mut der = vec![
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    der.extend_from_slice(raw);
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        STANDARD.encode(der)
    )
}

async fn hmac_signed_with_the_public_key_is_refused(backend: Backend) {
    let (server, forger) = Forger::start(backend).await;
    let jwks = read(server.http.get(server.url("/.well-known/jwks.json"))).await;
    assert_eq!(jwks.status, StatusCode::OK, "{}", jwks.text);
    let jwk = jwks.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == forger.kid.as_str())
        .expect("the signing key is published")
        .clone();
    let x = jwk["x"].as_str().unwrap().to_owned();
    let raw = URL_SAFE_NO_PAD.decode(&x).unwrap();
    assert_eq!(raw.len(), 32);
    let pem = public_key_pem(&raw);
    let secrets: Vec<(&str, Vec<u8>)> = vec![
        ("x as text", x.clone().into_bytes()),
        ("raw key bytes", raw.clone()),
        ("PEM", pem.clone().into_bytes()),
        ("PEM without newline", pem.trim_end().as_bytes().to_vec()),
        ("JWK JSON", serde_json::to_vec(&jwk).unwrap()),
        ("JWKS JSON", jwks.text.clone().into_bytes()),
    ];
    for (name, secret) in &secrets {
        let key = EncodingKey::from_secret(secret);
        for (alg, algorithm) in [
            ("HS256", Algorithm::HS256),
            ("HS384", Algorithm::HS384),
            ("HS512", Algorithm::HS512),
        ] {
            for header in [
                json!({"alg": alg, "typ": "at+jwt", "kid": forger.kid}),
                json!({"alg": alg, "typ": "at+jwt"}),
            ] {
                let token = sign(&header, &forger.claims(), &key, algorithm);
                assert_refused(&server, &token, &format!("{alg} keyed with {name}")).await;
            }
        }
    }
}

async fn wrong_audience_is_refused(backend: Backend) {
    let (server, forger) = Forger::start(backend).await;
    for aud in [
        json!("urn:livingwell/other"),
        json!(ISSUER),
        json!("urn:livingwell/app/"),
        json!("URN:LIVINGWELL/APP"),
        json!("https://evil.example/app"),
        json!(""),
        json!(["https://evil.example/app"]),
        json!(null),
        json!(42),
    ] {
        let token = forger.with_claims(|c| {
            c.insert("aud".into(), aud.clone());
        });
        assert_refused(&server, &token, &format!("aud {aud}")).await;
    }
}

async fn wrong_issuer_is_refused(backend: Backend) {
    let (server, forger) = Forger::start(backend).await;
    for iss in [
        json!("urn:evil"),
        json!("urn:livingwell-staging"),
        json!("urn:livingwell/"),
        json!("URN:LIVINGWELL"),
        json!(""),
        json!(["urn:livingwell"]),
        json!(null),
    ] {
        let token = forger.with_claims(|c| {
            c.insert("iss".into(), iss.clone());
        });
        assert_refused(&server, &token, &format!("iss {iss}")).await;
    }
}

async fn expired_beyond_leeway_is_refused(backend: Backend) {
    let (server, forger) = Forger::start(backend).await;
    for age in [45, 600, 86_400 * 365] {
        let token = forger.with_claims(|c| {
            let now = now();
            c.insert("exp".into(), json!(now - age));
            c.insert("nbf".into(), json!(now - age - 300));
            c.insert("iat".into(), json!(now - age - 300));
        });
        assert_refused(&server, &token, &format!("expired {age} s ago")).await;
    }
    // An issued token's expiry cannot be pushed out without breaking its signature.
    let mut claims = decode_part(&forger.alex.access_token, 1);
    claims["exp"] = json!(now() + 86_400 * 365);
    let parts: Vec<&str> = forger.alex.access_token.split('.').collect();
    let stretched = format!("{}.{}.{}", parts[0], b64_json(&claims), parts[2]);
    assert_refused(&server, &stretched, "exp extended, signature kept").await;
}

async fn not_yet_valid_beyond_leeway_is_refused(backend: Backend) {
    let (server, forger) = Forger::start(backend).await;
    for ahead in [60, 3_600, 86_400 * 365] {
        let token = forger.with_claims(|c| {
            let now = now();
            c.insert("nbf".into(), json!(now + ahead));
            c.insert("exp".into(), json!(now + ahead + 300));
        });
        assert_refused(&server, &token, &format!("valid only in {ahead} s")).await;
    }
}

/// The control for the two tests above: a little clock skew is tolerated, so their refusals
/// are about the time being far off.
async fn clock_skew_within_leeway_is_tolerated(backend: Backend) {
    let (server, forger) = Forger::start(backend).await;
    let just_expired = forger.with_claims(|c| {
        let now = now();
        c.insert("exp".into(), json!(now - 5));
        c.insert("nbf".into(), json!(now - 305));
        c.insert("iat".into(), json!(now - 305));
    });
    assert_accepted(&server, &just_expired, "expired 5 s ago").await;
    let nearly_valid = forger.with_claims(|c| {
        c.insert("nbf".into(), json!(now() + 5));
    });
    assert_accepted(&server, &nearly_valid, "valid in 5 s").await;
}

async fn each_missing_claim_is_refused(backend: Backend) {
    let (server, forger) = Forger::start(backend).await;
    for claim in ["exp", "nbf", "iat", "iss", "aud", "sub", "sid", "jti"] {
        let token = forger.with_claims(|c| {
            assert!(c.remove(claim).is_some());
        });
        assert_refused(&server, &token, &format!("without {claim}")).await;
    }
    // null is no better than absent.
    for claim in ["exp", "nbf", "iat", "iss", "aud", "sub", "sid"] {
        let token = forger.with_claims(|c| {
            c.insert(claim.into(), Value::Null);
        });
        assert_refused(&server, &token, &format!("{claim}: null")).await;
    }
}

async fn tampered_payload_is_refused(backend: Backend) {
    let (server, forger) = Forger::start(backend).await;
    let priya = server.login("priya").await;
    let token = &forger.alex.access_token;
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);

    let mut claims = decode_part(token, 1);
    claims["sub"] = json!(priya.user_id);
    let as_priya = format!("{}.{}.{}", parts[0], b64_json(&claims), parts[2]);
    assert_refused(&server, &as_priya, "sub changed to priya").await;

    // Priya's own session id too, so the claims are wholly hers.
    claims["sid"] = decode_part(&priya.access_token, 1)["sid"].clone();
    let wholly_priya = format!("{}.{}.{}", parts[0], b64_json(&claims), parts[2]);
    assert_refused(&server, &wholly_priya, "sub and sid changed to priya").await;

    // The same claims re-encoded differently (key order, spacing) are still not what was signed.
    let original = decode_part(token, 1);
    let reencoded = serde_json::to_string_pretty(&original).unwrap();
    let reordered = format!("{}.{}.{}", parts[0], b64(reencoded), parts[2]);
    assert_refused(&server, &reordered, "payload re-encoded").await;

    // A signature from another of alex's tokens does not carry over.
    let other = server.login("alex").await;
    let other_signature = other.access_token.rsplit('.').next().unwrap();
    let spliced = format!("{}.{}.{other_signature}", parts[0], parts[1]);
    assert_refused(&server, &spliced, "signature of another token").await;

    // A flipped bit in the signature.
    let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    signature[0] ^= 1;
    let flipped = format!("{}.{}.{}", parts[0], parts[1], b64(signature));
    assert_refused(&server, &flipped, "signature bit flipped").await;

    // The untouched token still works: nothing above harmed the session.
    assert_accepted(&server, token, "the untouched token").await;
}

/// PKCS#8 DER for an Ed25519 key from its 32-byte seed.
fn ed25519_pkcs8(seed: [u8; 32]) -> Vec<u8> {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&seed);
    der
}

async fn signature_from_another_key_is_refused(backend: Backend) {
    let (server, forger) = Forger::start(backend).await;
    let mut seed = [0u8; 32];
    seed[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    seed[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    let other = ed25519_pkcs8(seed);
    assert_ne!(other, forger.der);
    let token = sign(
        &forger.header(),
        &forger.claims(),
        &EncodingKey::from_ed_der(&other),
        Algorithm::EdDSA,
    );
    assert_refused(&server, &token, "signed by another key under our kid").await;
}

async fn unknown_or_missing_kid_is_refused(backend: Backend) {
    let (server, forger) = Forger::start(backend).await;
    for kid in [
        json!("not-a-published-key"),
        json!(""),
        json!(format!("{}x", forger.kid)),
        json!(forger.kid.to_uppercase()),
    ] {
        if kid == json!(forger.kid) {
            continue;
        }
        let token = forger.with_header(|h| {
            h.insert("kid".into(), kid.clone());
        });
        assert_refused(&server, &token, &format!("kid {kid}")).await;
    }
    let token = forger.with_header(|h| {
        h.remove("kid");
    });
    assert_refused(&server, &token, "no kid").await;
}

async fn hostile_kid_is_refused_and_the_server_carries_on(backend: Backend) {
    let (server, forger) = Forger::start(backend).await;
    let hostile = [
        json!("../../etc/passwd"),
        json!("/dev/zero"),
        json!("../../../../../../proc/self/environ"),
        json!("x".repeat(10_000)),
        json!("' OR '1'='1"),
        json!("x'; DROP TABLE signing_keys; --"),
        json!(format!("{}' OR '1'='1", forger.kid)),
        json!("\u{0}"),
        json!("%00"),
        json!("https://evil.example/jwks.json"),
        json!(42),
        json!(["a", "b"]),
        json!({"kid": forger.kid}),
        json!(null),
    ];
    for kid in &hostile {
        let token = forger.with_header(|h| {
            h.insert("kid".into(), kid.clone());
        });
        let what = format!(
            "kid {}",
            kid.to_string().chars().take(60).collect::<String>()
        );
        assert_refused(&server, &token, &what).await;
    }
    // Headers that point elsewhere for the key are not followed either.
    for (name, value) in [
        ("jku", json!("https://evil.example/jwks.json")),
        ("x5u", json!("https://evil.example/cert.pem")),
    ] {
        let token = forger.with_header(|h| {
            h.insert("kid".into(), json!("evil"));
            h.insert(name.into(), value.clone());
        });
        assert_refused(&server, &token, name).await;
    }
    // Nothing was harmed: the keys are all there and real tokens still work.
    assert_eq!(
        server
            .store
            .signing_keys()
            .await
            .unwrap()
            .first()
            .unwrap()
            .kid,
        forger.kid
    );
    assert_accepted(&server, &forger.alex.access_token, "the issued token").await;
    server.login("priya").await;
}

async fn missing_or_wrong_typ_is_refused(backend: Backend) {
    let (server, forger) = Forger::start(backend).await;
    let token = forger.with_header(|h| {
        h.remove("typ");
    });
    assert_refused(&server, &token, "no typ").await;
    for typ in [
        json!("JWT"),
        json!("jwt"),
        json!("JOSE"),
        json!("rt+jwt"),
        json!("at+jwt "),
        json!(""),
        json!(null),
        json!(["at+jwt"]),
    ] {
        let token = forger.with_header(|h| {
            h.insert("typ".into(), typ.clone());
        });
        assert_refused(&server, &token, &format!("typ {typ}")).await;
    }
}

async fn refresh_token_as_access_token_is_refused(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let alex = server.login("alex").await;
    assert_refused(&server, &alex.refresh_token, "refresh token").await;
    // Nor does it work dressed as a JWT.
    let dressed = format!(
        "{}.{}.{}",
        b64_json(&json!({"alg": "EdDSA", "typ": "at+jwt"})),
        b64(&alex.refresh_token),
        b64(&alex.refresh_token)
    );
    assert_refused(&server, &dressed, "refresh token inside a JWT").await;
    // And the refresh token still refreshes: presenting it did no harm.
    let refreshed = server
        .send(
            reqwest::Method::POST,
            "/v1/auth/refresh",
            None,
            Some(json!({"refresh_token": alex.refresh_token})),
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::OK, "{}", refreshed.text);
}

async fn staff_token_with_rewritten_audience_is_refused(backend: Backend) {
    let (server, forger) = Forger::start(backend).await;
    let staff = server.client_token(Some("people:read")).await;
    // A staff-system token is not for /v1/me at all (403, not 401): it is a valid token.
    assert_eq!(
        server.get("/v1/me", &staff).await.status,
        StatusCode::FORBIDDEN
    );
    let parts: Vec<&str> = staff.split('.').collect();
    let original = decode_part(&staff, 1);
    assert_eq!(original["aud"], STAFF_AUDIENCE);

    // Rewritten in place, signature kept.
    let mut claims = original.clone();
    claims["aud"] = json!(APP_AUDIENCE);
    let rewritten = format!("{}.{}.{}", parts[0], b64_json(&claims), parts[2]);
    assert_refused(&server, &rewritten, "staff aud rewritten to app").await;
    claims["sid"] = forger.sid.clone();
    let with_sid = format!("{}.{}.{}", parts[0], b64_json(&claims), parts[2]);
    assert_refused(&server, &with_sid, "staff aud rewritten, alex's sid added").await;
    claims["sub"] = json!(forger.alex.user_id);
    let as_alex = format!("{}.{}.{}", parts[0], b64_json(&claims), parts[2]);
    assert_refused(&server, &as_alex, "staff token rewritten into alex's").await;

    // Even validly signed, a staff system's subject is no account.
    let mut resigned = original.clone();
    resigned["aud"] = json!(APP_AUDIENCE);
    resigned["sid"] = forger.sid.clone();
    let token = forger.sign(&forger.header(), &resigned);
    assert_refused(&server, &token, "staff subject with app aud, re-signed").await;
}

async fn app_token_re_signed_for_staff_audience_is_refused(backend: Backend) {
    let (server, forger) = Forger::start(backend).await;
    // Alex is no staff system, whatever audience and scope the token claims.
    let token = forger.with_claims(|c| {
        c.insert("aud".into(), json!(STAFF_AUDIENCE));
        c.insert("scope".into(), json!("people:read people:write"));
    });
    assert_refused(&server, &token, "alex as a staff system").await;
    // An app audience without a session is refused too (covered per claim above), and a staff
    // audience without a scope.
    let token = forger.with_claims(|c| {
        c.insert("aud".into(), json!(STAFF_AUDIENCE));
        c.insert("sub".into(), json!(livingwell_server::demo::CLIENT_ID));
        c.remove("sid");
    });
    assert_refused(&server, &token, "staff audience without scope").await;
}

async fn session_of_another_account_is_refused(backend: Backend) {
    let (server, forger) = Forger::start(backend).await;
    let priya = server.login("priya").await;
    // Priya's id with alex's session: the session does not belong to her.
    let token = forger.with_claims(|c| {
        c.insert("sub".into(), json!(priya.user_id));
    });
    assert_refused(&server, &token, "priya's id on alex's session").await;
    // A session that never existed.
    let token = forger.with_claims(|c| {
        c.insert("sid".into(), json!(uuid::Uuid::new_v4().to_string()));
    });
    assert_refused(&server, &token, "an unknown session").await;
    // A session that was ended.
    let out = server
        .send(
            reqwest::Method::POST,
            "/v1/auth/logout",
            Some(&forger.alex.access_token),
            None,
        )
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.text);
    let token = forger.token();
    assert_refused(&server, &token, "a signed-out session").await;
}

async fn subject_that_is_no_account_is_refused(backend: Backend) {
    let (server, forger) = Forger::start(backend).await;
    for sub in [
        json!(uuid::Uuid::new_v4().to_string()),
        json!("admin"),
        json!("alex"),
        json!(""),
        json!("' OR '1'='1"),
        json!(42),
    ] {
        let token = forger.with_claims(|c| {
            c.insert("sub".into(), sub.clone());
        });
        assert_refused(&server, &token, &format!("sub {sub}")).await;
    }
}

async fn missing_or_malformed_authorization_is_refused(backend: Backend) {
    let (server, forger) = Forger::start(backend).await;
    let no_header = read(server.http.get(server.url("/v1/me"))).await;
    assert_eq!(
        no_header.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        no_header.text
    );
    assert_eq!(no_header.code(), "unauthorized");
    assert!(no_header.headers.contains_key("www-authenticate"));
    let token = forger.alex.access_token.clone();
    for value in [
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        format!("Basic {token}"),
        format!("Token {token}"),
        format!("Bearer{token}"),
        "Bearer a.b".to_owned(),
        "Bearer a.b.c".to_owned(),
        "Bearer ...".to_owned(),
        format!("Bearer {token}.extra"),
        format!("Bearer {}", "A".repeat(8_000)),
    ] {
        let reply = read(
            server
                .http
                .get(server.url("/v1/me"))
                .header("authorization", value.as_str()),
        )
        .await;
        let what: String = value.chars().take(40).collect();
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{what}: {}",
            reply.text
        );
        assert_eq!(reply.code(), "unauthorized", "{what}");
        let challenge = reply.headers["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("Bearer "), "{what}: {challenge}");
    }
}
