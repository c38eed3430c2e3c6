//! The cost of sqlx's `Any` driver, which gives Latchkey one query code path over SQLite and
//! PostgreSQL, against each backend's native pool: the same point lookup (the shape of an API key
//! authentication) through both, in the same run. `cargo bench --bench storage`.

use criterion::{Criterion, criterion_group, criterion_main};
use sqlx::{AnyPool, PgPool, SqlitePool};

const ROWS: i64 = 1000;

async fn seed_any(pool: &AnyPool) {
    sqlx::raw_sql("CREATE TABLE IF NOT EXISTS bench_keys (id TEXT PRIMARY KEY, account_id TEXT NOT NULL, secret_hash TEXT NOT NULL UNIQUE, created_at BIGINT NOT NULL)")
        .execute(pool)
        .await
        .unwrap();
    for i in 0..ROWS {
        sqlx::query("INSERT INTO bench_keys (id, account_id, secret_hash, created_at) VALUES ($1, $2, $3, $4)")
            .bind(format!("key_{i}"))
            .bind("acct_bench")
            .bind(format!("{i:064}"))
            .bind(i)
            .execute(pool)
            .await
            .unwrap();
    }
}

const LOOKUP: &str = "SELECT id, account_id, secret_hash FROM bench_keys WHERE secret_hash = $1";

fn lookups(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    sqlx::any::install_default_drivers();
    let dir = tempfile::tempdir().unwrap();
    let sqlite_url = format!("sqlite://{}?mode=rwc", dir.path().join("bench.db").display());
    let database = runtime.block_on(latchkey_test_support::TestDatabase::postgres());

    let (any_sqlite, native_sqlite, any_pg, native_pg) = runtime.block_on(async {
        let any_sqlite = AnyPool::connect(&sqlite_url).await.unwrap();
        seed_any(&any_sqlite).await;
        let any_pg = AnyPool::connect(database.url()).await.unwrap();
        seed_any(&any_pg).await;
        (
            any_sqlite,
            SqlitePool::connect(&sqlite_url).await.unwrap(),
            any_pg,
            PgPool::connect(database.url()).await.unwrap(),
        )
    });

    let mut group = c.benchmark_group("point_lookup");
    let hash = format!("{:064}", ROWS / 2);
    group.bench_function("sqlite/any", |b| {
        b.to_async(&runtime).iter(|| async {
            let row: (String, String, String) =
                sqlx::query_as(LOOKUP).bind(&hash).fetch_one(&any_sqlite).await.unwrap();
            row
        })
    });
    group.bench_function("sqlite/native", |b| {
        b.to_async(&runtime).iter(|| async {
            let row: (String, String, String) = sqlx::query_as(LOOKUP)
                .bind(&hash)
                .fetch_one(&native_sqlite)
                .await
                .unwrap();
            row
        })
    });
    group.bench_function("postgres/any", |b| {
        b.to_async(&runtime).iter(|| async {
            let row: (String, String, String) = sqlx::query_as(LOOKUP).bind(&hash).fetch_one(&any_pg).await.unwrap();
            row
        })
    });
    group.bench_function("postgres/native", |b| {
        b.to_async(&runtime).iter(|| async {
            let row: (String, String, String) = sqlx::query_as(LOOKUP).bind(&hash).fetch_one(&native_pg).await.unwrap();
            row
        })
    });
    group.finish();
    runtime.block_on(async {
        any_pg.close().await;
        native_pg.close().await;
    });
    drop(database);
}

criterion_group!(benches, lookups);
criterion_main!(benches);
