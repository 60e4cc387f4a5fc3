//! `ourvidz`: the project's local stack — `supabase start` and `spin up` in
//! one native program. It runs the Spin components of `functions/spin.toml`
//! on an embedded wasmtime exactly as Spin 4 would, behind Supabase's
//! functions gateway rules, next to the Storage API and the project's
//! Postgres cluster. See `cli` for the commands.

mod bindings {
    //! Host bindings for the Spin interfaces in `runtime/wit`.
    wasmtime::component::bindgen!({
        path: "wit",
        world: "ourvidz:runtime/spin-host",
        imports: { default: async | trappable },
        with: {
            "spin:postgres/postgres.connection": crate::pg::PgConnection,
            "spin:postgres/postgres.connection-builder": crate::pg::PgConnectionBuilder,
        },
    });
}

mod cli;
mod drain;
mod engine;
mod gateway;
mod keys;
mod manifest;
mod outbound;
mod outbound_http;
mod pg;
mod server;
mod stack;
mod state;
mod variables;
mod worker;

fn main() -> std::process::ExitCode {
    // Error values carry no captured backtrace unless RUST_LIB_BACKTRACE asks
    // for one: wasmtime makes an error for every guest fiber it disposes of
    // when a request's store is dropped, and with RUST_BACKTRACE=1 in the
    // environment capturing its backtrace was 6% of the host's CPU per
    // request. Panics still print theirs. Set before any thread starts.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
    cli::run()
}
