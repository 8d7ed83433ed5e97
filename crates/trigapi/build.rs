//! Tells the test suite which database servers it may use (`TEST_POSTGRES_URL`,
//! `TEST_MYSQL_URL`), so that the tests of a backend with no server are reported as ignored,
//! with the reason, instead of passing without having run.

fn main() {
    for (var, cfg) in [("TEST_POSTGRES_URL", "trigapi_test_postgres"), ("TEST_MYSQL_URL", "trigapi_test_mysql")] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        println!("cargo::rerun-if-env-changed={var}");
        if std::env::var(var).is_ok_and(|v| !v.is_empty()) {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
