//! Connecting to SQL Server: the URL, the pool and its connections.

use std::time::Duration;

use jcselect_sync::store::StoreError;
use tiberius::{AuthMethod, Client, Config};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use crate::codec::backend;
use crate::statements;

/// One pooled connection.
pub(crate) type Connection = Client<Compat<TcpStream>>;

/// Where and how to connect, read from
/// `mssql://user:password@host[:port]/database[?trust_server_certificate=true]`.
#[derive(Clone)]
pub struct MssqlConfig {
    host: String,
    port: u16,
    database: String,
    user: String,
    password: String,
    trust_server_certificate: bool,
}

impl std::fmt::Debug for MssqlConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MssqlConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("database", &self.database)
            .field("user", &self.user)
            .field("password", &"<hidden>")
            .field("trust_server_certificate", &self.trust_server_certificate)
            .finish()
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes
            .get(index + 1..index + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok());
        match (
            bytes[index],
            hex.and_then(|pair| u8::from_str_radix(pair, 16).ok()),
        ) {
            (b'%', Some(byte)) => {
                out.push(byte);
                index += 3;
            }
            (byte, _) => {
                out.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl MssqlConfig {
    /// Reads a `mssql://` URL.
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        let bad = |why: &str| StoreError::Config {
            store: "mssql",
            message: format!(
                "bad database URL ({why}); expected mssql://user:password@host[:port]/database"
            ),
        };
        let rest = url
            .strip_prefix("mssql://")
            .ok_or_else(|| bad("not mssql://"))?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (credentials, location) = rest.rsplit_once('@').ok_or_else(|| bad("no user"))?;
        let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
        let (address, database) = location.split_once('/').ok_or_else(|| bad("no database"))?;
        let (host, port) = match address.rsplit_once(':') {
            Some((host, port)) => (host, port.parse().map_err(|_| bad("port is not a number"))?),
            None => (address, 1433),
        };
        if host.is_empty() || database.is_empty() || user.is_empty() {
            return Err(bad("host, database and user are required"));
        }
        let trust_server_certificate = query.split('&').any(|pair| {
            matches!(
                pair,
                "trust_server_certificate=true" | "TrustServerCertificate=true"
            )
        });
        Ok(MssqlConfig {
            host: host.to_owned(),
            port,
            database: percent_decode(database),
            user: percent_decode(user),
            password: percent_decode(password),
            trust_server_certificate,
        })
    }

    /// The driver's configuration for this URL.
    pub fn tiberius(&self) -> Config {
        let mut config = Config::new();
        config.host(&self.host);
        config.port(self.port);
        config.database(&self.database);
        config.application_name("jcselect-sync");
        config.authentication(AuthMethod::sql_server(&self.user, &self.password));
        if self.trust_server_certificate {
            config.trust_cert();
        }
        config
    }
}

/// Opens connections for the pool; a connection handed out never carries
/// a transaction left open by an earlier user.
pub(crate) struct Manager {
    config: Config,
}

impl bb8::ManageConnection for Manager {
    type Connection = Connection;
    type Error = tiberius::error::Error;

    async fn connect(&self) -> Result<Connection, Self::Error> {
        let tcp = TcpStream::connect(self.config.get_addr()).await?;
        tcp.set_nodelay(true)?;
        let mut client = Client::connect(self.config.clone(), tcp.compat_write()).await?;
        client.execute(statements::SESSION_SETUP, &[]).await?;
        Ok(client)
    }

    async fn is_valid(&self, conn: &mut Connection) -> Result<(), Self::Error> {
        conn.execute(statements::ROLLBACK_IF_OPEN, &[]).await?;
        Ok(())
    }

    fn has_broken(&self, _conn: &mut Connection) -> bool {
        false
    }
}

/// A SQL Server database used as a jcselect-sync store.
#[derive(Clone)]
pub struct MssqlStore {
    pub(crate) pool: bb8::Pool<Manager>,
}

impl std::fmt::Debug for MssqlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MssqlStore").finish_non_exhaustive()
    }
}

impl MssqlStore {
    /// Connects to the database a `mssql://` URL names.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let config = MssqlConfig::from_url(url)?;
        let pool = bb8::Pool::builder()
            .max_size(16)
            .connection_timeout(Duration::from_secs(30))
            .build(Manager {
                config: config.tiberius(),
            })
            .await
            .map_err(backend)?;
        // fail at start-up, not at the first push
        drop(pool.get().await.map_err(|error| StoreError::Config {
            store: "mssql",
            message: format!(
                "cannot connect to {}:{}: {error:?}",
                config.host, config.port
            ),
        })?);
        tracing::info!(host = %config.host, database = %config.database, "mssql store connected");
        Ok(MssqlStore { pool })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_url_and_hides_the_password() {
        let config = MssqlConfig::from_url(
            "mssql://sa:p%40ss@db.example:1444/jcselect?trust_server_certificate=true",
        )
        .unwrap();
        assert_eq!((config.host.as_str(), config.port), ("db.example", 1444));
        assert_eq!(config.password, "p@ss");
        assert!(config.trust_server_certificate);
        assert!(!format!("{config:?}").contains("p@ss"));
        assert!(MssqlConfig::from_url("mssql://db/jcselect").is_err());
        assert!(MssqlConfig::from_url("postgres://a@b/c").is_err());
    }
}
