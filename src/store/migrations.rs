//! One migration layout for both backends: `sqlite/migrations/` and `postgres/migrations/` each hold
//! `NNNN_name.sql` files, listed in the backend's `MIGRATIONS` and applied in version order, each once.
//! SQLite records the version reached in `PRAGMA user_version` (the number of migrations applied, as it
//! always has); PostgreSQL in sqlx's `_sqlx_migrations` table (checked against each file's checksum). A
//! released migration never changes: existing databases have already run it. A new one gets the next
//! number on both backends, with the same name.

/// One schema change.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Migration {
    /// 1, 2, …: the schema version this brings a database to.
    pub version: i64,
    /// The file's name after its number (`0002_outbox.sql`: "outbox").
    pub name: &'static str,
    pub sql: &'static str,
}

impl Migration {
    pub const fn new(version: i64, name: &'static str, sql: &'static str) -> Migration {
        Migration { version, name, sql }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::Migration;

    /// The file name under the backend's `migrations/`.
    fn file_name(m: &Migration) -> String {
        format!("{:04}_{}.sql", m.version, m.name)
    }

    /// Every file in the folder is listed, by its own name and contents, in version order from 1.
    fn check(folder: &str, migrations: &[Migration]) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let listed: Vec<String> = migrations.iter().map(file_name).collect();
        assert_eq!(files, listed, "{folder}");
        for (i, m) in migrations.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1);
            let text = std::fs::read_to_string(dir.join(file_name(m))).unwrap();
            assert_eq!(text, m.sql, "{}", file_name(m));
        }
    }

    #[test]
    fn both_backends_list_the_same_numbered_migrations() {
        let sqlite = crate::store::sqlite::migrate::MIGRATIONS;
        let postgres = crate::store::postgres::MIGRATIONS;
        check("src/store/sqlite/migrations", &sqlite);
        check("src/store/postgres/migrations", &postgres);
        let names = |list: &[Migration]| -> Vec<(i64, &str)> {
            list.iter().map(|m| (m.version, m.name)).collect()
        };
        assert_eq!(names(&sqlite), names(&postgres));
    }
}
