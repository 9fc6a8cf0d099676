//! With `--database`, what a cluster keeps besides its messages (rooms' settings, owners
//! and moderators, the audit log, bans) is PostgreSQL's: a flushed Redis loses none of
//! it, and what a Redis-only cluster kept in Redis moves over.

use super::*;

/// Empties the backend's Redis, as an operator's `FLUSHALL` or a Redis that lost its
/// files would.
fn flush(b: &Backend) {
    let (rt, server) = b.redis_server.as_ref().unwrap();
    let client = ::redis::Client::open(server.url()).unwrap();
    rt.block_on(async {
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        ::redis::cmd("FLUSHALL").query_async::<()>(&mut c).await.unwrap();
    });
}

fn private() -> RoomSettings {
    RoomSettings { password: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()), max: Some(5) }
}

/// What a test asks of a room's roles: its owner and its moderators.
fn roles(h: &History, name: &str) -> (Option<String>, Vec<String>) {
    let roles = h.room(&room(name)).unwrap().roles;
    (roles.owner.map(|t| t.to_string()), roles.moderators.iter().map(|t| t.to_string()).collect())
}

#[test]
fn with_postgresql_a_flushed_redis_keeps_rooms_roles_the_audit_log_and_bans() {
    let b = redis_postgres(2);
    let (h, vault, now) = (&b.history, room("vault"), crate::hub::now_ms());
    assert!(h.create_room(&vault, &private()).unwrap());
    h.set_owner(&vault, &SenderKey::from("ann-token")).unwrap();
    h.set_moderator(&vault, &SenderKey::from("bob-token"), true).unwrap();
    h.audit("{\"n\":1}").unwrap();
    h.ban("t:*:tok-a", now + 600_000, now).unwrap();

    flush(&b);
    let stored = h.room(&vault).unwrap();
    assert!(stored.exists);
    assert_eq!(stored.settings, private());
    assert_eq!(roles(h, "vault"), (Some("ann-token".into()), vec!["bob-token".into()]));
    assert!(!h.create_room(&vault, &RoomSettings::default()).unwrap(), "it is created once");
    assert_eq!(h.audit_log().unwrap(), ["{\"n\":1}"]);
    assert_eq!(h.bans(now).unwrap(), [("t:*:tok-a".to_owned(), now + 600_000)]);
}

#[test]
fn what_a_redis_only_cluster_kept_moves_to_postgresql() {
    let b = redis_postgres(2);
    let (vault, now) = (room("vault"), crate::hub::now_ms());
    // Kept as a Redis-only cluster keeps them, in the same Redis.
    {
        let (rt, server) = b.redis_server.as_ref().unwrap();
        let node = rt.block_on(Cluster::connect(&server.url())).unwrap();
        let (_store, plain, _written) =
            rt.block_on(async { Store::redis(node.commands(), node.client(), None) });
        assert!(plain.create_room(&vault, &private()).unwrap());
        plain.set_owner(&vault, &SenderKey::from("ann-token")).unwrap();
        plain.set_moderator(&vault, &SenderKey::from("bob-token"), true).unwrap();
        plain.audit("{\"n\":1}").unwrap();
        plain.ban("t:*:tok-a", now + 600_000, now).unwrap();
    }
    let h = &b.history;
    assert_eq!(h.room(&vault).unwrap().settings, private());
    assert_eq!(roles(h, "vault"), (Some("ann-token".into()), vec!["bob-token".into()]));
    assert!(!h.create_room(&vault, &RoomSettings::default()).unwrap());
    assert_eq!(h.bans(now).unwrap(), [("t:*:tok-a".to_owned(), now + 600_000)]);
    h.audit("{\"n\":2}").unwrap();
    assert_eq!(h.audit_log().unwrap(), ["{\"n\":2}", "{\"n\":1}"], "the newest first, Redis's older");

    // Moved: Redis may go.
    flush(&b);
    assert_eq!(h.room(&vault).unwrap().settings, private());
    assert_eq!(roles(h, "vault"), (Some("ann-token".into()), vec!["bob-token".into()]));
    assert_eq!(h.bans(now).unwrap(), [("t:*:tok-a".to_owned(), now + 600_000)]);
    assert_eq!(h.audit_log().unwrap(), ["{\"n\":2}"]);
}

#[test]
fn with_postgresql_a_senders_cids_in_redis_are_bounded_and_its_recent_ones_still_recognised() {
    let mut b = redis_postgres(2);
    let mut said = Vec::new();
    for i in 1..=600 {
        said.push(id(b.say("alice", "r", &format!("c{i}"))));
    }
    // The app's outbox holds at most 100: a retry of any of the newest is recognised, and
    // gets its message back from PostgreSQL (Redis keeps the newest two).
    for i in [600, 550, 501] {
        let Said::Again(again) = b.say("alice", "r", &format!("c{i}")) else { panic!("c{i} is a retry") };
        assert_eq!((again.id, again.text), (said[i - 1], format!("text c{i}")));
    }
    let (rt, server) = b.redis_server.as_ref().unwrap();
    let client = ::redis::Client::open(server.url()).unwrap();
    let kept: usize = rt.block_on(async {
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> =
            ::redis::cmd("KEYS").arg("chat:cids:alice*").query_async(&mut c).await.unwrap();
        let mut kept = 0;
        for key in keys {
            kept += ::redis::cmd("HLEN").arg(key).query_async::<usize>(&mut c).await.unwrap();
        }
        kept
    });
    assert!(kept <= 256, "Redis keeps {kept} of alice's cids");
}

#[test]
fn with_postgresql_a_flushed_redis_numbers_on_from_where_postgresql_is_and_reads_it() {
    let mut b = redis_postgres(2);
    for i in 1..=6 {
        b.say("alice", "r", &format!("c{i}"));
    }
    flush(&b);
    let r = room("r");
    assert_eq!(b.page(b.history.recent(&r, 50).unwrap()), ((1..=6).collect(), true), "read from PostgreSQL");
    // Numbered on, never over what PostgreSQL holds.
    assert_eq!(id(b.say("alice", "r", "c7")), 7);
    assert_eq!(b.page(b.history.recent(&r, 50).unwrap()), ((1..=7).collect(), true));
    assert_eq!(b.history.message(&r, 1).unwrap().unwrap().text, "text c1");
}
