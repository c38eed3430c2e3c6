//! A PostgreSQL server of a test's own, for the tests that stop and restart the database (the
//! fault suite, the backup and restore drill): the machine's shared server must not be restarted
//! under other tests. Built with Debian's `initdb` and `pg_ctl`, trust authentication on loopback,
//! a free port, a data directory removed on drop. Run as the `postgres` user when the tests run
//! as root (PostgreSQL refuses to run as root).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use crate::unique_prefix;

/// Where Debian keeps the server's programs.
const BIN_DIRS: &[&str] = &[
    "/usr/lib/postgresql/17/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/15/bin",
];

/// A PostgreSQL server stopped (immediately) and removed on drop.
#[derive(Debug)]
pub struct PostgresServer {
    port: u16,
    dir: PathBuf,
    bin: PathBuf,
    running: bool,
}

impl PostgresServer {
    /// Creates a cluster in a fresh directory and starts it; waits until it accepts connections.
    pub fn spawn() -> Self {
        let bin = BIN_DIRS
            .iter()
            .map(PathBuf::from)
            .find(|dir| dir.join("initdb").exists())
            .expect("PostgreSQL's initdb and pg_ctl (Debian package postgresql)");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("find a free port")
            .port();
        let dir = std::env::temp_dir().join(format!("latchkey-postgres-{}", unique_prefix()));
        std::fs::create_dir_all(&dir).expect("create the PostgreSQL directory");
        let server = Self {
            port,
            dir,
            bin,
            running: false,
        };
        server.give_to_postgres(&server.dir);
        server.run(
            "initdb",
            &[
                "-D",
                &server.data().display().to_string(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        let mut server = server;
        server.start();
        server
    }

    /// `postgres://postgres@127.0.0.1:<port>/<database>`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates `database`.
    pub fn create_database(&self, database: &str) {
        self.psql("postgres", &format!("CREATE DATABASE {database}"));
    }

    /// Runs `sql` in `database` with psql, panicking when it fails.
    pub fn psql(&self, database: &str, sql: &str) -> String {
        let output = Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                database,
            ])
            .args(["-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
            .output()
            .expect("run psql");
        assert!(
            output.status.success(),
            "psql: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Backs `database` up with pg_dump (custom format) into `file`.
    pub fn dump(&self, database: &str, file: &Path) {
        self.client("pg_dump", &["-Fc", "-f", &file.display().to_string(), database]);
    }

    /// Restores `file` (from [`dump`](Self::dump)) into `database`, which must exist and be empty.
    pub fn restore(&self, database: &str, file: &Path) {
        self.client(
            "pg_restore",
            &["--exit-on-error", "-d", database, &file.display().to_string()],
        );
    }

    /// Runs a client program (pg_dump, pg_restore) against the server, panicking when it fails.
    fn client(&self, program: &str, args: &[&str]) {
        let output = Command::new(program)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres"])
            .args(args)
            .output()
            .unwrap_or_else(|error| panic!("run {program}: {error}"));
        assert!(
            output.status.success(),
            "{program}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Starts the server (again) on its port and data, and waits until it accepts connections.
    pub fn start(&mut self) {
        if self.running {
            return;
        }
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300",
            self.port,
            self.dir.display()
        );
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data().display().to_string(),
                "-o",
                &options,
                "-l",
                &self.dir.join("server.log").display().to_string(),
                "-w",
                "start",
            ],
        );
        self.running = true;
    }

    /// Stops the server as an operator's restart does (`pg_ctl stop -m fast`: open connections
    /// are cut, committed transactions kept).
    pub fn stop(&mut self) {
        self.stop_with("fast");
    }

    /// Stops and starts the server.
    pub fn restart(&mut self) {
        self.stop();
        self.start();
    }

    fn stop_with(&mut self, mode: &str) {
        if !self.running {
            return;
        }
        self.run(
            "pg_ctl",
            &["-D", &self.data().display().to_string(), "-m", mode, "-w", "stop"],
        );
        self.running = false;
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// One of the server's programs, run as `postgres` when this process is root.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn run(&self, program: &str, args: &[&str]) {
        let output = self
            .command(program)
            .args(args)
            .output()
            .expect("run a PostgreSQL program");
        assert!(
            output.status.success(),
            "{program} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Makes `path` the `postgres` user's when this process is root.
    fn give_to_postgres(&self, path: &Path) {
        if is_root() {
            let status = Command::new("chown").args(["-R", "postgres"]).arg(path).status();
            assert!(status.is_ok_and(|s| s.success()), "chown the PostgreSQL directory");
        }
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        if self.running {
            let _ = self
                .command("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .args(["-m", "immediate", "-w", "stop"])
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.trim_ascii() == b"0")
}
