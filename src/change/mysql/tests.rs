//! The MySQL compiler on the example schema: phases, algorithms, locks, triggers and refusals.

use super::*;
use crate::change::{AddColumn, ChangeType, DropColumn, RenameColumn, SetNotNull};

fn model() -> SchemaModel {
    let sql =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/schema.mysql.sql")).unwrap();
    crate::model::from_mysql_sql::parse_mysql_schema(&sql, "schema.mysql.sql").unwrap()
}

fn plan(changes: &[Change]) -> Plan {
    compile(&model(), changes, "p", MySqlTarget::MARIADB_DEFAULT).expect("plans").plan
}

fn err(changes: &[Change]) -> String {
    compile(&model(), changes, "p", MySqlTarget::MARIADB_DEFAULT).expect_err("refused").error.message
}

fn rename(table: &str, from: &str, to: &str) -> Change {
    Change::RenameColumn(RenameColumn { table: table.into(), from: from.into(), to: to.into() })
}

fn add(column: &str, not_null: bool, default: Option<&str>, backfill: Option<&str>) -> Change {
    Change::AddColumn(AddColumn {
        table: "users".into(),
        column: column.into(),
        data_type: "boolean".into(),
        not_null,
        default: default.map(Into::into),
        backfill: backfill.map(Into::into),
    })
}

fn retype(table: &str, column: &str, to: &str, using: Option<&str>) -> Change {
    Change::ChangeType(ChangeType {
        table: table.into(),
        column: column.into(),
        data_type: to.into(),
        using: using.map(Into::into),
    })
}

fn sql(phase: &Phase) -> Vec<String> {
    phase.steps.iter().map(|s| s.sql()).collect()
}

#[test]
fn every_alter_names_an_algorithm_and_never_copies() {
    let plans = [
        plan(&[rename("users", "name", "full_name")]),
        plan(&[rename("users", "email", "mail")]),
        plan(&[add("email_verified", true, None, Some("verified_at IS NOT NULL"))]),
        plan(&[Change::DropColumn(DropColumn { table: "users".into(), column: "legacy_flag".into() })]),
        plan(&[Change::SetNotNull(SetNotNull {
            table: "users".into(),
            column: "nickname".into(),
            backfill: Some("''".into()),
        })]),
        plan(&[retype("order_lines", "quantity", "BIGINT", None)]),
        plan(&[retype("order_lines", "sku", "VARCHAR(32)", Some("UPPER(LEFT(sku, 32))"))]),
        plan(&[retype("users", "nickname", "VARCHAR(60)", None)]),
    ];
    for p in &plans {
        for phase in &p.phases {
            for s in phase.steps.iter().chain(phase.steps.iter().flat_map(|s| s.undo.iter())) {
                let text = s.sql();
                if text.starts_with("ALTER TABLE") {
                    assert!(text.contains("ALGORITHM="), "{text}");
                    assert!(!text.contains("COPY") || text.contains("NOCOPY"), "{text}");
                    if text.contains("ADD INDEX") || text.contains("ADD UNIQUE INDEX") {
                        assert!(!text.contains("INSTANT"), "index build with an instant clause: {text}");
                        assert_eq!(s.lock, Lock::OnlineNoRebuild);
                    }
                }
                assert!(s.lock >= Lock::MdlExclusiveBrief, "MySQL steps name MySQL locks: {text}");
            }
        }
    }
}

#[test]
fn rename_adds_a_copy_with_a_placeholder_syncs_and_swaps_in_one_statement() {
    let p = plan(&[rename("users", "name", "full_name")]);
    let expand = sql(&p.phases[0]);
    assert_eq!(
        expand[0],
        "ALTER TABLE `users` ADD COLUMN `full_name` varchar(200) NOT NULL DEFAULT '' COMMENT 'display name' AFTER `name`, ALGORITHM=INSTANT"
    );
    assert!(
        expand[1].starts_with("CREATE TRIGGER `planner_p_1_bi` BEFORE INSERT ON `users` FOR EACH ROW\n"),
        "{}",
        expand[1]
    );
    assert!(expand[1].contains("NEW.`full_name` IS NULL OR NEW.`full_name` <=> ''"), "{}", expand[1]);
    assert!(
        expand[2].contains("IF(NOT (NEW.`full_name` <=> OLD.`full_name`) AND NEW.`name` <=> OLD.`name`"),
        "{}",
        expand[2]
    );
    assert!(
        expand[3]
            .contains("ADD INDEX `users_name_idx_planner` (`full_name`(20)), ALGORITHM=NOCOPY, LOCK=NONE"),
        "{}",
        expand[3]
    );
    let contract = sql(&p.phases[2]);
    assert_eq!(contract.len(), 3);
    assert_eq!(
        contract[2],
        "ALTER TABLE `users` DROP INDEX `users_name_idx`, DROP COLUMN `name`, RENAME INDEX `users_name_idx_planner` TO `users_name_idx`, ALGORITHM=NOCOPY, LOCK=NONE"
    );
    assert!(p.phases[2].irreversible.is_some());
    assert_eq!(p.phases[1].backfill[0].pending, "NOT (`full_name` <=> `name`)");
}

#[test]
fn a_unique_copy_under_a_placeholder_waits_for_contract_and_a_nullable_one_does_not() {
    let p = plan(&[rename("users", "email", "mail")]);
    assert!(sql(&p.phases[0])
        .iter()
        .any(|s| s.contains("ADD UNIQUE INDEX `users_email_key_planner` (`mail`)")));
    let schema =
        "CREATE TABLE t (id BIGINT PRIMARY KEY, code VARCHAR(10) NOT NULL, UNIQUE KEY t_code (code));";
    let m = crate::model::from_mysql_sql::parse_mysql_schema(schema, "s.sql").unwrap();
    let p = compile(&m, &[rename("t", "code", "ref")], "p", MySqlTarget::MARIADB_DEFAULT).unwrap().plan;
    assert!(
        !sql(&p.phases[0]).iter().any(|s| s.contains("UNIQUE")),
        "every row holds the placeholder during expand"
    );
    assert!(sql(&p.phases[2])[0].contains("ADD UNIQUE INDEX"));
    // code had no default: the old column gets the placeholder, the copy loses it at the end.
    assert!(sql(&p.phases[0])[0].contains("ALTER COLUMN `code` SET DEFAULT ''"));
    assert!(sql(&p.phases[2]).last().unwrap().contains("ALTER COLUMN `ref` DROP DEFAULT"));
}

#[test]
fn add_column_is_instant_or_computed_with_one_rebuild_while_the_triggers_run() {
    let p = plan(&[add("active", true, Some("1"), None)]);
    assert_eq!(p.phases.len(), 1);
    assert_eq!(
        sql(&p.phases[0]),
        ["ALTER TABLE `users` ADD COLUMN `active` tinyint(1) NOT NULL DEFAULT 1, ALGORITHM=INSTANT"]
    );
    let p = plan(&[add("email_verified", true, None, Some("verified_at IS NOT NULL"))]);
    let contract = &p.phases[2];
    assert!(contract.steps[0]
        .sql()
        .contains("MODIFY COLUMN `email_verified` tinyint(1) NOT NULL, ALGORITHM=INPLACE, LOCK=NONE"));
    assert_eq!(contract.steps[0].lock, Lock::OnlineRebuild);
    assert!(contract.steps[1].sql().starts_with("DROP TRIGGER"), "triggers stay until the rebuild is done");
    assert!(contract.irreversible.is_none());
    assert!(
        sql(&p.phases[0])[2].contains("NOT (NEW.`verified_at` <=> OLD.`verified_at`)"),
        "recomputed when its source changes"
    );
}

#[test]
fn refusals_name_the_reason() {
    assert!(err(&[rename("users", "id", "uid")]).contains("primary key"));
    assert!(err(&[rename("orders", "user_id", "owner_id")]).contains("foreign key orders_user_fk"));
    assert!(err(&[rename("orders", "total_cents", "total")]).contains("view recent_orders"));
    assert!(err(&[rename("orders", "status", "state")]).contains("trigger orders_status_bi"));
    assert!(err(&[rename("users", "name", "email")]).contains("already exists"));
    assert!(err(&[add("x", true, None, None)]).contains("1364"));
    assert!(err(&[add("x", false, Some("UUID()"), None)]).contains("copying the table"));
    assert!(err(&[Change::DropColumn(DropColumn { table: "orders".into(), column: "user_id".into() })])
        .contains("foreign key"));
    let schema = "CREATE TABLE c (id BIGINT PRIMARY KEY, v INT, CONSTRAINT v_pos CHECK (v > 0));";
    let m = crate::model::from_mysql_sql::parse_mysql_schema(schema, "s.sql").unwrap();
    let e =
        compile(&m, &[rename("c", "v", "w")], "p", MySqlTarget::MARIADB_DEFAULT).unwrap_err().error.message;
    assert!(e.contains("CHECK v_pos"), "{e}");
    assert!(err(&[Change::SetNotNull(SetNotNull {
        table: "users".into(),
        column: "name".into(),
        backfill: None
    })])
    .contains("already NOT NULL"));
    assert!(MySqlTarget::parse("mariadb", Some("10.3")).is_err());
    let e = err(&[rename("user", "name", "n")]);
    assert!(e.contains("table user does not exist (did you mean users?)"), "{e}");
    let upper = crate::model::from_mysql_sql::parse_mysql_schema(
        "CREATE TABLE Orders (id BIGINT PRIMARY KEY, Note TEXT);",
        "s.sql",
    )
    .unwrap();
    let p = compile(&upper, &[rename("orders", "note", "remark")], "p", MySqlTarget::MARIADB_DEFAULT)
        .expect("case-insensitive lookup");
    assert!(p.plan.phases[0].steps[0]
        .sql()
        .starts_with("ALTER TABLE `Orders` ADD COLUMN `remark` text NULL AFTER `Note`"));
    assert_eq!(MySqlTarget::parse("mysql", Some("8.0")).unwrap().no_rebuild(), Algorithm::Inplace);
}

#[test]
fn the_app_trigger_comes_first_and_a_second_change_follows_the_first() {
    let p = plan(&[
        Change::SetNotNull(SetNotNull {
            table: "orders".into(),
            column: "currency".into(),
            backfill: Some("'EUR'".into()),
        }),
        Change::AddColumn(AddColumn {
            table: "orders".into(),
            column: "gift".into(),
            data_type: "boolean".into(),
            not_null: false,
            default: None,
            backfill: Some("total_cents > 10000".into()),
        }),
    ]);
    let s = sql(&p.phases[0]);
    assert!(s[0].contains("BEFORE INSERT ON `orders` FOR EACH ROW FOLLOWS `orders_status_bi`"), "{}", s[0]);
    assert!(
        s.iter().any(|x| x
            .contains("`planner_p_2_bi` BEFORE INSERT ON `orders` FOR EACH ROW FOLLOWS `planner_p_1_bi`")),
        "{s:#?}"
    );
}

#[test]
fn set_not_null_restates_the_definition_without_a_default_null() {
    let schema = "CREATE TABLE t (id BIGINT PRIMARY KEY, c VARCHAR(10) CHARACTER SET latin1 NULL DEFAULT NULL COMMENT 'x');";
    let m = crate::model::from_mysql_sql::parse_mysql_schema(schema, "s.sql").unwrap();
    let change = Change::SetNotNull(SetNotNull { table: "t".into(), column: "c".into(), backfill: None });
    let p = compile(&m, &[change], "p", MySqlTarget::MARIADB_DEFAULT).unwrap().plan;
    assert_eq!(p.phases.len(), 2, "no triggers, no backfill: an empty expand and the contract");
    let contract = &p.phases[1];
    assert_eq!(
        contract.steps[0].sql(),
        "ALTER TABLE `t` MODIFY COLUMN `c` varchar(10) CHARACTER SET latin1 NOT NULL COMMENT 'x', ALGORITHM=INPLACE, LOCK=NONE"
    );
    assert!(contract.steps[0].undo[0]
        .sql()
        .contains("`c` varchar(10) CHARACTER SET latin1 NULL DEFAULT NULL COMMENT 'x'"));
    assert!(contract.preconditions.contains(&Precondition::NoNulls {
        table: p.tables[0].table.clone(),
        column: Ident::new("c").unwrap()
    }));
}

#[test]
fn change_type_adds_a_shadow_converts_every_write_and_swaps_it_in_without_a_copy() {
    let p = plan(&[retype("order_lines", "quantity", "BIGINT", None)]);
    let expand = sql(&p.phases[0]);
    assert_eq!(
        expand[0],
        "ALTER TABLE `order_lines` ADD COLUMN `quantity_planner` bigint NOT NULL DEFAULT 0 AFTER `quantity`, ALGORITHM=INSTANT"
    );
    for trigger in &expand[1..3] {
        assert!(trigger.contains("SET NEW.`quantity_planner` = NEW.`quantity`"), "{trigger}");
    }
    assert!(expand[3]
        .contains("ADD INDEX `order_lines_quantity_idx_planner` (`quantity_planner`), ALGORITHM=NOCOPY"));
    assert_eq!(p.phases[1].backfill[0].pending, "NOT (`quantity_planner` <=> (`quantity`))");
    let contract = sql(&p.phases[2]);
    assert_eq!(contract.len(), 1, "the triggers go inside the locked swap: {contract:#?}");
    assert_eq!(
        contract[0],
        "LOCK TABLES `order_lines` WRITE;\n\
         DROP TRIGGER IF EXISTS `planner_p_1_bi`;\n\
         DROP TRIGGER IF EXISTS `planner_p_1_bu`;\n\
         -- planner:ignore drop-column planner drops a column only where no running app version uses it: \
         in contract once the app reading it is gone, or undoing expand, the column expand added (see `compat` in plan.yaml)\n\
         -- planner:ignore rename-column planner renames only its own shadow column into the name of the column \
         the same statement drops (a type change's swap)\n\
         ALTER TABLE `order_lines` DROP INDEX `order_lines_quantity_idx`, DROP COLUMN `quantity`, \
         CHANGE COLUMN `quantity_planner` `quantity` bigint NOT NULL, \
         RENAME INDEX `order_lines_quantity_idx_planner` TO `order_lines_quantity_idx`, ALGORITHM=NOCOPY, LOCK=NONE;\n\
         UNLOCK TABLES"
    );
    assert!(p.phases[2].irreversible.is_some());
    assert!(p.description[0].contains("table copy on MariaDB 10.11"), "{:?}", p.description);
}

#[test]
fn change_type_with_using_builds_a_unique_copy_after_the_placeholder_is_gone() {
    let p = plan(&[retype("order_lines", "sku", "VARCHAR(32)", Some("UPPER(LEFT(sku, 32))"))]);
    let expand = sql(&p.phases[0]);
    assert!(expand[0].contains("`sku_planner` varchar(32) NOT NULL DEFAULT ''"), "{}", expand[0]);
    assert!(expand[1].contains("SET NEW.`sku_planner` = UPPER(LEFT(NEW.`sku`, 32))"), "{}", expand[1]);
    assert!(
        !expand.iter().any(|s| s.contains("UNIQUE")),
        "every row holds '' until the backfill: {expand:#?}"
    );
    let contract = sql(&p.phases[2]);
    assert!(contract[0]
        .contains("ADD UNIQUE INDEX `order_lines_order_sku_key_planner` (`order_id`, `sku_planner`)"));
    assert!(contract.last().unwrap().contains("CHANGE COLUMN `sku_planner` `sku` varchar(32) NOT NULL,"));
    assert_eq!(p.phases[1].backfill[0].set[0].expr, "UPPER(LEFT(`sku`, 32))");
}

#[test]
fn a_varchar_that_keeps_its_length_prefix_widens_in_place_and_one_that_does_not_gets_a_shadow() {
    let p = plan(&[retype("users", "nickname", "VARCHAR(60)", None)]);
    assert_eq!(p.phases.len(), 1);
    assert_eq!(
        sql(&p.phases[0]),
        ["ALTER TABLE `users` MODIFY COLUMN `nickname` varchar(60) NULL, ALGORITHM=INSTANT"]
    );
    assert!(p.phases[0].irreversible.is_some(), "narrowing back is a copy");
    let p = plan(&[retype("users", "nickname", "VARCHAR(100)", None)]);
    assert_eq!(p.phases.len(), 3, "200 -> 400 bytes crosses the 255-byte prefix boundary");
    let mysql = compile(
        &model(),
        &[retype("users", "nickname", "VARCHAR(60)", None)],
        "p",
        MySqlTarget::MYSQL_DEFAULT,
    )
    .unwrap()
    .plan;
    assert!(sql(&mysql.phases[0])[0].ends_with("ALGORITHM=INPLACE, LOCK=NONE"));
}

#[test]
fn change_type_refuses_what_only_a_table_copy_can_do() {
    assert!(err(&[retype("users", "id", "INT", None)]).contains("primary key"));
    assert!(
        err(&[retype("order_lines", "order_id", "INT", None)]).contains("foreign key order_lines_order_fk")
    );
    assert!(err(&[retype("orders", "total_cents", "INT", None)]).contains("view recent_orders"));
    assert!(err(&[retype("order_lines", "quantity", "INT(11)", None)]).contains("already int"));
    assert!(err(&[retype("order_lines", "quantity", "no such type", None)]).contains("not a MySQL type"));
    let e = err(&[retype("order_lines", "quantity", "BIGINT", Some("quantity +"))]);
    assert!(e.contains("using `quantity +`"), "{e}");
    assert!(err(&[retype("order_lines", "sku", "TEXT", None)]).contains("prefix length"));
    let schema = "CREATE TABLE t (id BIGINT PRIMARY KEY, d DATETIME NOT NULL);";
    let m = crate::model::from_mysql_sql::parse_mysql_schema(schema, "s.sql").unwrap();
    let e = compile(&m, &[retype("t", "d", "DATE", None)], "p", MySqlTarget::MARIADB_DEFAULT)
        .unwrap_err()
        .error
        .message;
    assert!(e.contains("no neutral placeholder"), "{e}");
}
