//! planner dies (abort: no cleanup, as kill -9) after each unit of every DDL phase of every golden
//! plan. Each time `status` names where it stopped, and the command it names leads to a consistent
//! schema: `rollback` gives back exactly the schema before the phase (pg_dump), or `apply` resumes
//! and gives exactly the schema of an uninterrupted run. The abort comes from
//! `PLANNER_FAULT_ABORT_AFTER_UNITS`, a fault point right after a unit commits; kills inside a
//! step are in tests/exec_faults.rs.

mod common;
mod exec_support;

use std::process::Command;

use exec_support::*;
use planner::plan::script::{Script, Timeouts};
use planner::plan::PhaseKind;

fn planner(url: &str, args: &[&str], abort_after: Option<usize>) -> (Option<i32>, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_planner"));
    cmd.current_dir(root()).env("DATABASE_URL", url).args(args);
    if let Some(n) = abort_after {
        cmd.env("PLANNER_FAULT_ABORT_AFTER_UNITS", n.to_string());
    }
    let out = cmd.output().expect("planner runs");
    (
        out.status.code(),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

async fn every_fault_point(name: &str) {
    let plan = plan(name);
    let dir = format!("plans/{name}");
    for phase in plan.plan.phases.iter().filter(|p| p.phase != PhaseKind::Backfill && !p.steps.is_empty()) {
        let units = Script::build(&phase.steps, Timeouts::default()).units;
        // The schema before and after an uninterrupted run of this phase.
        let reference = example_db(200).await;
        for earlier in plan.plan.phases.iter().take_while(|p| p.phase < phase.phase) {
            apply(&reference, &plan, earlier.phase).await.unwrap();
        }
        let before = pg_dump_schema(&reference.url);
        apply(&reference, &plan, phase.phase).await.unwrap();
        let after = pg_dump_schema(&reference.url);
        reference.drop().await;

        for k in 1..=units.len() {
            let db = example_db(200).await;
            for earlier in plan.plan.phases.iter().take_while(|p| p.phase < phase.phase) {
                apply(&db, &plan, earlier.phase).await.unwrap();
            }
            let phase_arg = phase.phase.as_str();
            let (code, out) = planner(&db.url, &["apply", &dir, "--phase", phase_arg, "--yes"], Some(k));
            assert_ne!(code, Some(0), "{name} {phase_arg} unit {k}: the run was to die: {out}");
            let (_, status) = planner(&db.url, &["status", &dir], None);
            let done: usize = units[..k].iter().map(|u| u.statements.len()).sum();
            assert!(
                status.contains(&format!("interrupted after step {done} of {}", phase.steps.len())),
                "{name} {phase_arg} unit {k}: {status}"
            );
            // An irreversible step that committed leaves one way: forward.
            let committed_irreversibly =
                units[..k].iter().flat_map(|u| &u.statements).any(|s| s.step.irreversible.is_some());
            if !committed_irreversibly && k % 2 == 1 {
                let (code, out) = planner(&db.url, &["rollback", &dir], None);
                assert_eq!(code, Some(0), "{name} {phase_arg} unit {k}: rollback: {out}");
                assert_eq!(pg_dump_schema(&db.url), before, "{name} {phase_arg} unit {k}: rollback restores");
                let (code, out) = planner(&db.url, &["apply", &dir, "--phase", phase_arg, "--yes"], None);
                assert_eq!(code, Some(0), "{name} {phase_arg} unit {k}: apply after rollback: {out}");
            } else {
                let (code, out) = planner(&db.url, &["apply", &dir, "--phase", phase_arg, "--yes"], None);
                assert_eq!(code, Some(0), "{name} {phase_arg} unit {k}: resume: {out}");
                assert!(out.contains("resuming phase") || done == phase.steps.len(), "{out}");
            }
            assert_eq!(pg_dump_schema(&db.url), after, "{name} {phase_arg} unit {k}: the phase's schema");
            db.drop().await;
        }
    }
}

macro_rules! fault_point_tests {
    ($($test:ident => $plan:literal),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $test() {
                every_fault_point($plan).await;
            }
        )+

        #[test]
        fn every_golden_plan_has_a_fault_point_test() {
            let mut names: Vec<String> = std::fs::read_dir(root().join("plans"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
                .collect();
            names.sort();
            let mut covered = vec![$($plan.to_string()),+];
            covered.sort();
            assert_eq!(names, covered);
        }
    };
}

fault_point_tests! {
    change_type_ticket_events_id => "change_type_ticket_events_id",
    change_type_tickets_closed_at => "change_type_tickets_closed_at",
    change_type_tickets_code => "change_type_tickets_code",
    change_type_tickets_opened_at => "change_type_tickets_opened_at",
    change_type_tickets_id => "change_type_tickets_id",
    change_type_users_name => "change_type_users_name",
    add_orders_gift_wrap => "add_orders_gift_wrap",
    add_users_email_verified => "add_users_email_verified",
    drop_users_legacy_flag => "drop_users_legacy_flag",
    rename_billing_invoices_amount_cents => "rename_billing_invoices_amount_cents",
    rename_orders_mixedcase => "rename_orders_mixedcase",
    rename_users_name => "rename_users_name",
    rename_users_name_with_length => "rename_users_name_with_length",
    set_not_null_users_email => "set_not_null_users_email",
}
