//! ACME external account binding (issue #10, RFC 8555 7.3.4) on every backend: a
//! credential belongs to one running contract; the MAC must verify; a credential binds
//! one account; a disabled credential or an ended contract is refused; nonces are used
//! once.

use base64::Engine;
use shomei_model::Actor;
use shomei_ra::acme::{EabBinding, EabRefusal};
use shomei_ra::secrets::SecretKeys;
use shomei_ra::testing::{instance, issued, ra};
use shomei_store::acme::NewAcmeAccount;
use shomei_store::testing::backends;
use std::sync::Arc;
use time::macros::datetime;

const CSR: &str = include_str!("../../ca/tests/data/rsa2048.csr");

fn mac(key_b64: &str, input: &[u8]) -> Vec<u8> {
    let key = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(key_b64)
        .unwrap_or_default();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
    ring::hmac::sign(&key, input).as_ref().to_vec()
}

fn account(n: u8, kid: &str) -> NewAcmeAccount {
    NewAcmeAccount {
        thumbprint: format!("thumb-{n}"),
        jwk: format!("{{\"kty\":\"EC\",\"n\":{n}}}"),
        eab_kid: kid.to_owned(),
        contact: "[]".into(),
    }
}

#[tokio::test]
async fn issue10_eab_binds_one_account_to_one_running_contract() {
    for db in backends().await {
        let (mut ra, clock, pki) = ra(db.store.clone(), datetime!(2026-11-24 10:00:00 UTC));
        ra.policy.secrets = Arc::new(SecretKeys::from_raw(&[[9u8; 32]]).unwrap_or_default());
        let staff = ra
            .create_staff("rev", "審査", "ra@example.jp", Actor::Cli)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (a, app) = issued(&ra, staff.id, CSR).await;
        let other = issued(&ra, staff.id, CSR).await.0;

        // Only the record's own account, and only a 完了 record with a contract.
        assert_eq!(ra.create_eab(other.id, app).await.ok().flatten(), None);
        let eab = ra
            .create_eab(a.id, app)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("a credential for a running contract"));
        assert_eq!(
            ra.eabs_of_contract(a.id, app).await.map(|v| v.len()).ok(),
            Some(1)
        );
        // The HMAC key is stored sealed, never as given to the customer.
        let stored = db.store.eab(&eab.kid).await.ok().flatten();
        assert!(
            stored.is_some_and(|s| s.hmac_key != eab.hmac),
            "{}",
            db.name
        );

        let input = b"protected.payload";
        let good = mac(&eab.hmac, input);
        let register = async |kid: &str, alg: &str, mac: &[u8], n: u8| {
            ra.acme_register(
                &account(n, kid),
                &EabBinding {
                    alg,
                    kid,
                    signing_input: input,
                    mac,
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .map(|acct| acct.contract_id)
        };
        assert_eq!(
            register("nope", "HS256", &good, 1).await,
            Err(EabRefusal::UnknownKid)
        );
        assert_eq!(
            register(&eab.kid, "HS256", b"wrong", 1).await,
            Err(EabRefusal::BadMac)
        );
        assert_eq!(
            register(&eab.kid, "RS256", &good, 1).await,
            Err(EabRefusal::BadMac)
        );
        let bound = register(&eab.kid, "HS256", &good, 1).await;
        assert!(bound.is_ok(), "bound on {}: {bound:?}", db.name);
        assert_eq!(
            register(&eab.kid, "HS256", &good, 2).await,
            Err(EabRefusal::KidUsed)
        );
        assert!(
            ra.acme_account_by_key("thumb-1")
                .await
                .ok()
                .flatten()
                .is_some()
        );

        // A disabled credential, then an ended contract.
        let eab2 = ra
            .create_eab(a.id, app)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("second"));
        assert_eq!(
            ra.disable_eab(&eab2.kid, Actor::Customer(other.id))
                .await
                .ok(),
            None,
            "not another account's"
        );
        assert_eq!(
            ra.disable_eab(&eab2.kid, Actor::Customer(a.id)).await.ok(),
            Some(true)
        );
        let mac2 = mac(&eab2.hmac, input);
        assert_eq!(
            register(&eab2.kid, "HS256", &mac2, 3).await,
            Err(EabRefusal::Disabled)
        );
        let eab3 = ra
            .create_eab(a.id, app)
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| panic!("third"));
        clock.set(datetime!(2028-01-01 00:00:00 UTC));
        let mac3 = mac(&eab3.hmac, input);
        assert_eq!(
            register(&eab3.kid, "HS256", &mac3, 4).await,
            Err(EabRefusal::ContractEnded)
        );
        assert_eq!(
            ra.create_eab(a.id, app).await.ok().flatten(),
            None,
            "no credential after the contract"
        );

        // Nonces: given out, used once; unknown ones refused.
        let n = ra.acme_nonce().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ra.acme_use_nonce(&n).await.ok(), Some(true));
        assert_eq!(ra.acme_use_nonce(&n).await.ok(), Some(false), "replayed");
        assert_eq!(ra.acme_use_nonce("made-up").await.ok(), Some(false));
        // Issue #11 item 4: a nonce is not stored when given out but carries a MAC under
        // the shared secrets key: a changed one is refused; one given out by another
        // instance sharing the key is accepted, by another key refused.
        let n = ra.acme_nonce().await.unwrap_or_else(|e| panic!("{e}"));
        let mut tampered = n.clone().into_bytes();
        tampered[10] = if tampered[10] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap_or_default();
        assert_eq!(ra.acme_use_nonce(&tampered).await.ok(), Some(false));
        let other = shomei_store::Store::connect(&db.url)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut sibling = instance(other, &clock, &pki);
        sibling.policy.secrets = ra.policy.secrets.clone();
        assert_eq!(sibling.acme_use_nonce(&n).await.ok(), Some(true), "{n}");
        assert_eq!(
            ra.acme_use_nonce(&n).await.ok(),
            Some(false),
            "used on the sibling"
        );
        sibling.policy.secrets = Arc::new(SecretKeys::from_raw(&[[7u8; 32]]).unwrap_or_default());
        let foreign = sibling.acme_nonce().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ra.acme_use_nonce(&foreign).await.ok(), Some(false));
        // Concurrent uses of one nonce share a transaction: exactly one succeeds.
        let n = ra.acme_nonce().await.unwrap_or_else(|e| panic!("{e}"));
        let (a, b, c, d) = tokio::join!(
            ra.acme_use_nonce(&n),
            ra.acme_use_nonce(&n),
            ra.acme_use_nonce(&n),
            ra.acme_use_nonce(&n)
        );
        let ok = [a, b, c, d]
            .into_iter()
            .filter(|r| matches!(r, Ok(true)))
            .count();
        assert_eq!(ok, 1, "{n}: one nonce used {ok} times");
        // Expired after its lifetime; used ones are purged then, never before.
        let late = ra.acme_nonce().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ra.purge_used_nonces().await.ok(), Some(0));
        clock.set(datetime!(2028-01-01 01:00:00 UTC));
        assert_eq!(ra.acme_use_nonce(&late).await.ok(), Some(false), "expired");
        assert!(ra.purge_used_nonces().await.unwrap_or_default() >= 2);
    }
}
