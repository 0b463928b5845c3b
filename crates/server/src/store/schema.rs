//! The database's schema, versioned in code: `PRAGMA application_id` says the file is a
//! chat-server database, `PRAGMA user_version` which schema it has, and the steps below
//! bring an older one up to date at start. A later release adds steps; it never edits
//! one that shipped.

use rusqlite::Connection;

/// Marks a database as chat-server's ("CHAT").
pub const APPLICATION_ID: i64 = 0x4348_4154;

/// Each step takes the schema from the version before it to its own number.
const MIGRATIONS: &[&str] = &[
    // 1: history, registered names, mail, last seen.
    "CREATE TABLE lines (
         room TEXT NOT NULL,
         seq INTEGER NOT NULL,
         time INTEGER NOT NULL,
         sender TEXT NOT NULL,
         kind INTEGER NOT NULL,
         text TEXT NOT NULL,
         PRIMARY KEY (room, seq)
     ) WITHOUT ROWID;
     CREATE TABLE rooms (key TEXT PRIMARY KEY) WITHOUT ROWID;
     CREATE TABLE accounts (
         key TEXT PRIMARY KEY,
         name TEXT NOT NULL,
         hash TEXT NOT NULL,
         created INTEGER NOT NULL
     ) WITHOUT ROWID;
     CREATE TABLE mail (
         id INTEGER PRIMARY KEY,
         recipient TEXT NOT NULL,
         time INTEGER NOT NULL,
         sender TEXT NOT NULL,
         addressee TEXT NOT NULL,
         text TEXT NOT NULL
     );
     CREATE INDEX mail_by_recipient ON mail (recipient, id);
     CREATE TABLE seen (
         key TEXT PRIMARY KEY,
         name TEXT NOT NULL,
         time INTEGER NOT NULL
     ) WITHOUT ROWID;",
    // 2: public rooms' topics, bans.
    "CREATE TABLE topics (
         room TEXT PRIMARY KEY,
         text TEXT NOT NULL
     ) WITHOUT ROWID;
     CREATE TABLE bans (
         id INTEGER PRIMARY KEY,
         name_key TEXT,
         name TEXT,
         address TEXT,
         until INTEGER,
         reason TEXT
     );",
];

/// The schema version this server writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// What a database file turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// Ours (made now, or upgraded, or already current).
    Ours,
    /// Another program's.
    Foreign(i64),
    /// Ours, from a newer release.
    Newer(i64),
}

/// Checks that `connection` holds a chat-server database (or an empty one, which it makes
/// one) and brings its schema up to [`VERSION`].
///
/// # Errors
/// SQLite's, if the file can't be read or written (a file that isn't a database at all
/// fails here).
pub fn prepare(connection: &mut Connection) -> rusqlite::Result<Found> {
    let id: i64 = connection.pragma_query_value(None, "application_id", |row| row.get(0))?;
    let version: i64 = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let tables: i64 =
        connection.query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))?;
    if id != APPLICATION_ID && !(id == 0 && version == 0 && tables == 0) {
        return Ok(Found::Foreign(id));
    }
    if version > VERSION {
        return Ok(Found::Newer(version));
    }
    let transaction = connection.transaction()?;
    for (index, step) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        transaction.execute_batch(step)?;
        transaction.pragma_update(None, "user_version", index as i64 + 1)?;
    }
    transaction.pragma_update(None, "application_id", APPLICATION_ID)?;
    transaction.commit()?;
    Ok(Found::Ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_database_is_made_current_and_stays_so() {
        let mut connection = Connection::open_in_memory().expect("open");
        assert_eq!(prepare(&mut connection).expect("prepare"), Found::Ours);
        let version: i64 = connection
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .expect("version");
        assert_eq!(version, VERSION);
        assert_eq!(prepare(&mut connection).expect("again"), Found::Ours);
    }

    #[test]
    fn other_programs_and_newer_releases_are_recognised() {
        let mut foreign = Connection::open_in_memory().expect("open");
        foreign
            .execute_batch("CREATE TABLE theirs (x)")
            .expect("a table of another program");
        assert_eq!(prepare(&mut foreign).expect("prepare"), Found::Foreign(0));

        let mut newer = Connection::open_in_memory().expect("open");
        prepare(&mut newer).expect("prepare");
        newer
            .pragma_update(None, "user_version", VERSION + 5)
            .expect("pretend to be newer");
        assert_eq!(
            prepare(&mut newer).expect("prepare"),
            Found::Newer(VERSION + 5)
        );
    }
}
