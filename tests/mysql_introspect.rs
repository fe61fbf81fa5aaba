//! MySQL/MariaDB introspection into planner's SchemaModel, on a fixture schema created in the
//! real server.

mod mysql_support;

use mysql_support::TestDb;
use planner::model::{ConstraintKind, Generated, IndexPart};
use planner::mysql::{introspect, state, MySession, SessionLimits};
use planner::sql::{Ident, QualifiedName};

fn id(s: &str) -> Ident {
    Ident::new(s).unwrap()
}

#[tokio::test]
async fn fixture_schema_reads_into_the_model() {
    let db = TestDb::new().await;
    db.exec(
        "CREATE TABLE users (
            id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
            name VARCHAR(100) NOT NULL DEFAULT 'anon',
            email VARCHAR(200) COLLATE utf8mb4_bin NULL COMMENT 'login',
            status ENUM('active','banned') NOT NULL DEFAULT 'active',
            balance DECIMAL(10,2) NOT NULL DEFAULT 0.00,
            created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
            updated_at TIMESTAMP(3) NULL DEFAULT NULL ON UPDATE CURRENT_TIMESTAMP(3),
            lname VARCHAR(100) AS (LOWER(name)) VIRTUAL,
            name_len INT AS (CHAR_LENGTH(name)) STORED,
            nickname VARCHAR(50) NULL,
            parent_id BIGINT UNSIGNED NULL,
            KEY users_name_email (name(10), email DESC),
            UNIQUE KEY users_email (email),
            UNIQUE KEY users_id_email (id, email),
            CONSTRAINT users_parent FOREIGN KEY (parent_id) REFERENCES users (id) ON DELETE SET NULL,
            CONSTRAINT users_balance CHECK (balance >= 0)
         ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
         CREATE TABLE orders (
            id INT PRIMARY KEY,
            user_id BIGINT UNSIGNED NOT NULL,
            user_email VARCHAR(200) COLLATE utf8mb4_bin NULL,
            CONSTRAINT orders_user FOREIGN KEY (user_id, user_email) REFERENCES users (id, email) ON UPDATE CASCADE
         ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci;
         CREATE VIEW user_names AS SELECT id, name AS display_name FROM users;
         CREATE VIEW names_only AS SELECT display_name FROM user_names;",
    )
    .await;
    let mut s = MySession::open(&db.url, SessionLimits::default()).await.unwrap();
    state::ensure_schema(&mut s).await.unwrap();
    // Created by planner's session: it must carry the application's sql_mode, not sqlx's.
    let trigger =
        "CREATE TRIGGER users_bu BEFORE UPDATE ON users FOR EACH ROW SET NEW.nickname = TRIM(NEW.name)";
    s.run_ddl(&planner::mysql::ddl::DdlStatement::new(trigger).on("users")).await.unwrap();
    let (model, server) = introspect::introspect(s.conn()).await.unwrap();
    assert!(server.is_mariadb());
    let q = |t: &str| QualifiedName::new(id(&db.name), id(t));

    let names: Vec<&str> = model.tables.keys().map(|k| k.name.as_str()).collect();
    assert_eq!(names, vec!["orders", "users"], "planner's own state tables are not the application's");
    let users = model.table(&q("users")).unwrap();
    let cols: Vec<&str> = users.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        cols,
        [
            "id",
            "name",
            "email",
            "status",
            "balance",
            "created_at",
            "updated_at",
            "lname",
            "name_len",
            "nickname",
            "parent_id"
        ]
    );
    let col = |n: &str| users.column(&id(n)).unwrap();
    assert_eq!(col("id").data_type, "bigint(20) unsigned");
    assert_eq!(col("id").generated, Some(Generated::Identity { always: false }));
    assert_eq!((col("name").not_null, col("name").default.as_deref()), (true, Some("'anon'")));
    assert_eq!(col("email").props.collation, Some(id("utf8mb4_bin")), "differs from the table's");
    assert_eq!(col("name").props.collation, None, "the table's own collation is not repeated");
    assert_eq!(col("email").props.comment.as_deref(), Some("login"));
    assert_eq!((col("email").not_null, col("email").default.as_deref()), (false, None));
    assert_eq!(col("status").data_type, "enum('active','banned')");
    assert_eq!(col("balance").default.as_deref(), Some("0.00"));
    assert_eq!(col("created_at").default.as_deref(), Some("current_timestamp()"));
    assert_eq!(col("updated_at").props.on_update.as_deref(), Some("current_timestamp(3)"));
    assert_eq!(col("updated_at").default, None);
    assert_eq!(col("lname").generated, Some(Generated::Virtual("lcase(`name`)".into())));
    let stored = col("name_len").generated.clone();
    assert!(matches!(&stored, Some(Generated::Stored(e)) if e.contains("`name`")), "{stored:?}");

    let index = |n: &str| {
        users
            .indexes
            .iter()
            .find(|i| i.name.as_str() == n)
            .unwrap_or_else(|| panic!("{n}: {:?}", users.indexes))
    };
    let ne = index("users_name_email");
    assert!(!ne.unique && ne.method == "btree");
    assert_eq!(ne.keys.len(), 2);
    assert_eq!((&ne.keys[0].part, ne.keys[0].prefix_len), (&IndexPart::Column(id("name")), Some(10)));
    assert_eq!(
        (&ne.keys[1].part, ne.keys[1].prefix_len, ne.keys[1].options.as_str()),
        (&IndexPart::Column(id("email")), None, "DESC")
    );
    assert_eq!(index("users_email").constraint, Some(id("users_email")));
    assert_eq!(users.primary_key().unwrap().columns, vec![id("id")]);
    assert_eq!(users.backfill_key().iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["id"]);

    let constraint = |t: &planner::model::Table, n: &str| {
        t.constraints
            .iter()
            .find(|c| c.name.as_str() == n)
            .cloned()
            .unwrap_or_else(|| panic!("{n}: {:?}", t.constraints))
    };
    let parent = constraint(users, "users_parent");
    assert_eq!(
        parent.kind,
        ConstraintKind::ForeignKey {
            references: q("users"),
            ref_columns: vec![id("id")],
            on_delete: Some("SET NULL".into()),
            on_update: None
        }
    );
    let check = constraint(users, "users_balance");
    assert!(
        matches!(&check.kind, ConstraintKind::Check { expr } if expr.contains("`balance` >= 0")),
        "{check:?}"
    );
    assert_eq!(check.columns, vec![id("balance")]);
    assert!(matches!(constraint(users, "users_email").kind, ConstraintKind::Unique));
    let orders = model.table(&q("orders")).unwrap();
    let fk = constraint(orders, "orders_user");
    assert_eq!(fk.columns, vec![id("user_id"), id("user_email")]);
    assert_eq!(
        fk.kind,
        ConstraintKind::ForeignKey {
            references: q("users"),
            ref_columns: vec![id("id"), id("email")],
            on_delete: None,
            on_update: Some("CASCADE".into())
        }
    );
    let referencing: Vec<&str> = model
        .foreign_keys_referencing(&q("users"), &id("email"))
        .iter()
        .map(|(_, c)| c.name.as_str())
        .collect();
    assert_eq!(referencing, ["orders_user"]);

    assert_eq!(model.triggers.len(), 1);
    let t = &model.triggers[0];
    assert_eq!(
        (t.name.as_str(), &t.table, t.timing.as_str(), t.event.as_str(), t.order),
        ("users_bu", &q("users"), "BEFORE", "UPDATE", 1)
    );
    assert_eq!(t.columns, vec![id("name"), id("nickname")]);
    assert!(t.body.contains("TRIM(NEW.name)") && !t.sql_mode.contains("PIPES_AS_CONCAT"), "{t:?}");

    let views: Vec<&str> = model.views.iter().map(|v| v.name.name.as_str()).collect();
    assert_eq!(views, ["names_only", "user_names"]);
    let using_name: Vec<&str> =
        model.views_using(&q("users"), &id("name")).iter().map(|v| v.name.name.as_str()).collect();
    assert_eq!(using_name, ["user_names"], "view -> column dependencies come from the definition");
    assert!(model.views_using(&q("users"), &id("email")).is_empty());
    let reading: Vec<&str> =
        model.views_reading(&q("user_names")).iter().map(|v| v.name.name.as_str()).collect();
    assert_eq!(reading, ["names_only"]);
    s.close().await.unwrap();
    db.drop().await;
}
