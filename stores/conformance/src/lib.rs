//! # jcselect-store-conformance
//!
//! One suite, generic over any store, that every backend's tests run (as
//! `object_store`'s integration module does): plain `pub async fn`s taking a
//! freshly migrated store, and macros that turn them into one test each.
//! A backend whose database is absent skips with a message.

use std::io::Write;
use std::sync::Once;

pub mod client;
pub mod compaction;
pub mod failing;
pub mod fixture;
pub mod server;
pub mod upgrade;

/// Expands to the upgrade test (`upgrade::an_earlier_version_is_upgraded_in_place`).
/// `$make` yields a fresh store that has **not** been migrated, and a guard;
/// `unless` as for [`server_suite!`].
#[macro_export]
macro_rules! upgrade_suite {
    ($make:expr) => {
        $crate::upgrade_suite!($make, unless all() => "");
    };
    ($make:expr, unless $cfg:meta => $reason:literal) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        #[cfg_attr(not($cfg), ignore = $reason)]
        async fn an_earlier_version_is_upgraded_in_place() {
            if let Some((store, guard)) = $make.await {
                $crate::upgrade::an_earlier_version_is_upgraded_in_place(store).await;
                drop(guard);
            }
        }
    };
}

/// Expands to one `#[tokio::test]` per server-side suite function. `$make`
/// is an async expression yielding `Option<(Arc<dyn ServerStore>, guard)>`:
/// a fresh, migrated store and a value dropped when the test ends (which
/// removes the test's database), or `None` to skip with a message.
///
/// `server_suite!(make(), unless postgres_tests => "reason")` marks every
/// test ignored (reported as such, never as passed) unless the calling
/// crate's build script set that `cfg` (it does when the database's URL
/// variable is set at build time).
#[macro_export]
macro_rules! server_suite {
    ($make:expr) => {
        $crate::server_suite!($make, unless all() => "");
    };
    ($make:expr, unless $cfg:meta => $reason:literal) => {
        $crate::server_suite!(@tests $make; $cfg; $reason;
            push_applies_a_batch_in_dependency_order,
            every_bucket_of_the_protocol,
            replaying_a_request_changes_nothing_and_answers_the_same,
            tombstones_win_and_still_count_as_parents,
            microsecond_timestamps_and_arabic_text_survive,
            pulls_are_filtered_by_scope,
            an_operators_pull_merges_its_scopes_in_receive_order,
            users_are_placed_by_their_log_ins,
            conflicts_and_duplicate_vote_marks_are_audited,
            pulls_page_through_everything_in_both_forms,
            a_late_offline_write_is_still_pulled,
            readers_miss_nothing_under_concurrent_writers,
            a_batch_that_fails_midway_leaves_nothing_behind,
            logins_are_kept_replaced_and_never_pulled,
            refresh_sessions_are_taken_once,
            natural_keys_are_refused_naming_the_holder,
            records_are_paged_in_id_order,
            stations_keep_their_latest_report,
            records_are_counted_per_parent,
            a_fresh_replica_receives_each_record_once,
            readers_paging_while_writers_supersede_miss_nothing,
            pushes_committed_in_groups_are_each_answered_as_alone,
            replays_are_answered_after_their_entries_are_superseded,
        );
    };
    (@tests $make:expr; $cfg:meta; $reason:literal; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            #[cfg_attr(not($cfg), ignore = $reason)]
            async fn $name() {
                if let Some((store, guard)) = $make.await {
                    $crate::server::$name(store).await;
                    drop(guard);
                }
            }
        )+
    };
}

/// Expands to one `#[tokio::test]` per client-side suite function; `$make`
/// yields `Option<(Arc<dyn ClientStore>, guard)>`.
#[macro_export]
macro_rules! client_suite {
    ($make:expr) => {
        $crate::client_suite!(@tests $make;
            local_writes_coalesce_in_the_outbox,
            the_outbox_is_read_in_dependency_order,
            the_outbox_life_cycle_follows_push_responses,
            a_pulled_page_merges_under_the_conflict_rule,
            a_failed_write_leaves_nothing_behind,
            a_search_finds_records_by_folded_words,
        );
    };
    (@tests $make:expr; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                if let Some((store, guard)) = $make.await {
                    $crate::client::$name(store).await;
                    drop(guard);
                }
            }
        )+
    };
}

/// Says once per test binary, past the test harness's output capture, that
/// a backend's suite was skipped and which variable would run it.
pub fn announce_skip(variable: &str, backend: &str) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: the {backend} conformance suite did not run: {variable} is not set"
        );
    });
}
