//! `AccountStore`: invitation codes spent once (also when racing), reset codes that replace
//! each other and end every session, password changes that keep the caller's session, and
//! disabling that ends every session.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use livingwell_core::domain::{PersonId, Role, UserId};
use livingwell_server::store::accounts::{
    AcceptRefusal, ChosenCredentials, NewInvitation, NewResetCode,
};
use livingwell_server::store::{Store, UserRecord};

use crate::{instant, new_person, new_user, person_record, user_record};

conformance! {
    store: [
        an_invitation_makes_the_account_it_names_once,
        racing_acceptances_of_one_code_make_one_account,
        an_expired_or_unknown_invitation_stores_nothing,
        a_refused_username_leaves_the_invitation_unspent,
        an_invitation_for_a_person_with_an_account_is_refused,
        a_reset_code_works_once_and_ends_every_session,
        a_new_reset_code_replaces_the_earlier_one,
        changing_the_password_ends_the_other_sessions,
        disabling_ends_every_session_and_enabling_brings_none_back,
    ],
}

/// A session's refresh secret (the schema requires 32 bytes).
const SECRET: [u8; 32] = [0x6A; 32];

fn invitation(
    code: &[u8],
    role: Role,
    person: Option<PersonId>,
    at: DateTime<Utc>,
) -> NewInvitation {
    NewInvitation {
        id: uuid::Uuid::now_v7(),
        code_hash: code.to_vec(),
        role,
        person_id: person,
        display_name: "Zoë Ó Briain".to_owned(),
        created_by: "client:case-system".to_owned(),
        created_at: at,
        expires_at: at + Duration::days(7),
    }
}

/// What the person chooses when accepting: only the username and password hash count.
fn chosen(username: &str) -> ChosenCredentials {
    let record = user_record(Role::Admin, username, None);
    ChosenCredentials {
        id: record.id,
        username: record.username,
        password_hash: record.password_hash,
    }
}

async fn sessions(store: &dyn Store, user: UserId, n: usize) -> Vec<uuid::Uuid> {
    let mut ids = Vec::new();
    for _ in 0..n {
        let id = uuid::Uuid::now_v7();
        store
            .create_session(id, user, super::now(), &SECRET)
            .await
            .unwrap();
        ids.push(id);
    }
    ids.sort();
    ids
}

async fn live(store: &dyn Store, user: UserId, sessions: &[uuid::Uuid]) -> Vec<uuid::Uuid> {
    let mut alive = Vec::new();
    for session in sessions {
        if store.session_user(*session, user).await.unwrap().is_some() {
            alive.push(*session);
        }
    }
    alive
}

async fn an_invitation_makes_the_account_it_names_once(store: Arc<dyn Store>) {
    let person = new_person(store.as_ref(), "Zoë", None).await;
    let at = instant(9, 0, 0, 0);
    let invited = invitation(b"code one", Role::ServiceUser, Some(person.id), at);
    store.create_invitation(&invited).await.unwrap();

    let wanted = chosen("zoe");
    let account = store
        .accept_invitation(b"code one", &wanted, at + Duration::days(1))
        .await
        .unwrap()
        .unwrap();
    // Role, name and person come from the invitation, not from the request.
    let expected = UserRecord {
        id: wanted.id,
        username: "zoe".to_owned(),
        password_hash: wanted.password_hash.clone(),
        role: Role::ServiceUser,
        display_name: "Zoë Ó Briain".to_owned(),
        person_id: Some(person.id),
    };
    assert_eq!(account, expected);
    assert_eq!(store.user_by_username("zoe").await.unwrap(), Some(expected));

    // Spent: a second use is refused and stores nothing.
    let second = chosen("zoe.again");
    assert_eq!(
        store
            .accept_invitation(b"code one", &second, at + Duration::days(1))
            .await
            .unwrap(),
        Err(AcceptRefusal::CodeNotValid)
    );
    assert_eq!(store.user_by_id(second.id).await.unwrap(), None);
}

async fn racing_acceptances_of_one_code_make_one_account(store: Arc<dyn Store>) {
    let at = instant(9, 0, 0, 0);
    store
        .create_invitation(&invitation(b"shared code", Role::Carer, None, at))
        .await
        .unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            let barrier = barrier.clone();
            let wanted = chosen(&format!("carer.{i}"));
            tokio::spawn(async move {
                barrier.wait().await;
                let result = store
                    .accept_invitation(b"shared code", &wanted, at + Duration::hours(1))
                    .await
                    .unwrap();
                (wanted, result)
            })
        })
        .collect();
    let mut made = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (wanted, Ok(account)) => {
                assert_eq!(account.id, wanted.id);
                made.push(account);
            }
            (wanted, Err(refusal)) => {
                assert_eq!(refusal, AcceptRefusal::CodeNotValid);
                assert_eq!(store.user_by_id(wanted.id).await.unwrap(), None);
            }
        }
    }
    assert_eq!(made.len(), 1, "one code, one account");
    assert_eq!(
        store.user_by_id(made[0].id).await.unwrap(),
        Some(made[0].clone())
    );
}

async fn an_expired_or_unknown_invitation_stores_nothing(store: Arc<dyn Store>) {
    let at = instant(9, 0, 0, 0);
    let invited = invitation(b"lapsing", Role::Carer, None, at);
    store.create_invitation(&invited).await.unwrap();
    for (code, when) in [
        (&b"lapsing"[..], invited.expires_at),
        (&b"lapsing"[..], invited.expires_at + Duration::days(1)),
        (&b"never issued"[..], at),
    ] {
        let wanted = chosen("late.carer");
        assert_eq!(
            store.accept_invitation(code, &wanted, when).await.unwrap(),
            Err(AcceptRefusal::CodeNotValid)
        );
        assert_eq!(store.user_by_username("late.carer").await.unwrap(), None);
    }
    // A moment before it lapses, it still works.
    let just_in_time = invited.expires_at - Duration::microseconds(1);
    assert!(
        store
            .accept_invitation(b"lapsing", &chosen("late.carer"), just_in_time)
            .await
            .unwrap()
            .is_ok()
    );
}

async fn a_refused_username_leaves_the_invitation_unspent(store: Arc<dyn Store>) {
    new_user(store.as_ref(), Role::Practitioner, "taken").await;
    let at = instant(9, 0, 0, 0);
    store
        .create_invitation(&invitation(b"code", Role::PeerWorker, None, at))
        .await
        .unwrap();

    let clash = chosen("taken");
    assert_eq!(
        store.accept_invitation(b"code", &clash, at).await.unwrap(),
        Err(AcceptRefusal::UsernameTaken)
    );
    assert_eq!(store.user_by_id(clash.id).await.unwrap(), None);

    let account = store
        .accept_invitation(b"code", &chosen("peer.new"), at)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.role, Role::PeerWorker);
    assert_eq!(account.username, "peer.new");
}

async fn an_invitation_for_a_person_with_an_account_is_refused(store: Arc<dyn Store>) {
    let person = person_record("Ada", None);
    let existing = user_record(Role::ServiceUser, "ada", Some(person.id));
    store.create_person(&person, Some(&existing)).await.unwrap();
    let at = instant(9, 0, 0, 0);
    store
        .create_invitation(&invitation(
            b"second",
            Role::ServiceUser,
            Some(person.id),
            at,
        ))
        .await
        .unwrap();

    let wanted = chosen("ada.two");
    assert_eq!(
        store
            .accept_invitation(b"second", &wanted, at)
            .await
            .unwrap(),
        Err(AcceptRefusal::PersonHasAccount)
    );
    assert_eq!(store.user_by_id(wanted.id).await.unwrap(), None);
    assert_eq!(store.user_by_username("ada").await.unwrap(), Some(existing));
}

fn reset_code(user: UserId, code: &[u8], at: DateTime<Utc>) -> NewResetCode {
    NewResetCode {
        id: uuid::Uuid::now_v7(),
        user_id: user,
        code_hash: code.to_vec(),
        created_by: "admin".to_owned(),
        created_at: at,
        expires_at: at + Duration::hours(24),
    }
}

async fn a_reset_code_works_once_and_ends_every_session(store: Arc<dyn Store>) {
    let user = new_user(store.as_ref(), Role::Carer, "carer.chris").await;
    let other = new_user(store.as_ref(), Role::Carer, "carer.dee").await;
    let mine = sessions(store.as_ref(), user.id, 2).await;
    let theirs = sessions(store.as_ref(), other.id, 1).await;
    let at = instant(9, 0, 0, 0);
    store
        .create_reset_code(&reset_code(user.id, b"reset", at))
        .await
        .unwrap();

    // The code is the account's: with another username it is not valid.
    assert_eq!(
        store
            .reset_password("carer.dee", b"reset", "$argon2id$new", at)
            .await
            .unwrap(),
        None
    );
    let mut ended = store
        .reset_password(
            "carer.chris",
            b"reset",
            "$argon2id$new",
            at + Duration::hours(1),
        )
        .await
        .unwrap()
        .unwrap();
    ended.sort();
    assert_eq!(ended, mine);
    assert!(live(store.as_ref(), user.id, &mine).await.is_empty());
    assert_eq!(live(store.as_ref(), other.id, &theirs).await, theirs);
    assert_eq!(
        store
            .user_by_id(user.id)
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "$argon2id$new"
    );
    assert_eq!(
        store
            .user_by_id(other.id)
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        other.password_hash
    );

    // Spent.
    assert_eq!(
        store
            .reset_password("carer.chris", b"reset", "$argon2id$again", at)
            .await
            .unwrap(),
        None
    );
    // Nor does a code work after it lapses, or for a disabled account.
    store
        .create_reset_code(&reset_code(user.id, b"late", at))
        .await
        .unwrap();
    assert_eq!(
        store
            .reset_password(
                "carer.chris",
                b"late",
                "$argon2id$x",
                at + Duration::hours(24)
            )
            .await
            .unwrap(),
        None
    );
    store
        .create_reset_code(&reset_code(user.id, b"disabled", at))
        .await
        .unwrap();
    store.set_disabled(user.id, true, at).await.unwrap();
    assert_eq!(
        store
            .reset_password("carer.chris", b"disabled", "$argon2id$x", at)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .user_by_id(user.id)
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "$argon2id$new"
    );
}

async fn a_new_reset_code_replaces_the_earlier_one(store: Arc<dyn Store>) {
    let user = new_user(store.as_ref(), Role::Practitioner, "dr.lee").await;
    let at = instant(9, 0, 0, 0);
    store
        .create_reset_code(&reset_code(user.id, b"first", at))
        .await
        .unwrap();
    store
        .create_reset_code(&reset_code(user.id, b"second", at + Duration::minutes(1)))
        .await
        .unwrap();
    let later = at + Duration::minutes(2);
    assert_eq!(
        store
            .reset_password("dr.lee", b"first", "$argon2id$first", later)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .reset_password("dr.lee", b"second", "$argon2id$second", later)
            .await
            .unwrap(),
        Some(Vec::new())
    );
}

async fn changing_the_password_ends_the_other_sessions(store: Arc<dyn Store>) {
    let user = new_user(store.as_ref(), Role::PeerWorker, "peer.pat").await;
    let all = sessions(store.as_ref(), user.id, 3).await;
    let keep = all[1];
    let mut ended = store
        .change_password(user.id, "$argon2id$changed", keep, super::now())
        .await
        .unwrap();
    ended.sort();
    assert_eq!(ended, vec![all[0], all[2]]);
    assert_eq!(live(store.as_ref(), user.id, &all).await, vec![keep]);
    assert_eq!(
        store
            .user_by_id(user.id)
            .await
            .unwrap()
            .unwrap()
            .password_hash,
        "$argon2id$changed"
    );
    // Sessions already ended are not ended again.
    assert_eq!(
        store
            .change_password(user.id, "$argon2id$again", keep, super::now())
            .await
            .unwrap(),
        Vec::<uuid::Uuid>::new()
    );
}

async fn disabling_ends_every_session_and_enabling_brings_none_back(store: Arc<dyn Store>) {
    let user = new_user(store.as_ref(), Role::Carer, "carer.chris").await;
    let all = sessions(store.as_ref(), user.id, 2).await;
    assert!(!store.is_disabled(user.id).await.unwrap());

    let mut ended = store
        .set_disabled(user.id, true, super::now())
        .await
        .unwrap()
        .unwrap();
    ended.sort();
    assert_eq!(ended, all);
    assert!(store.is_disabled(user.id).await.unwrap());
    assert!(live(store.as_ref(), user.id, &all).await.is_empty());
    assert!(!store.reauthenticated(all[0], super::now()).await.unwrap());

    assert_eq!(
        store
            .set_disabled(user.id, false, super::now())
            .await
            .unwrap(),
        Some(Vec::new())
    );
    assert!(!store.is_disabled(user.id).await.unwrap());
    assert!(
        live(store.as_ref(), user.id, &all).await.is_empty(),
        "ended sessions stay ended"
    );

    assert_eq!(
        store
            .set_disabled(UserId::new(), true, super::now())
            .await
            .unwrap(),
        None
    );
    assert!(!store.is_disabled(UserId::new()).await.unwrap());
}
