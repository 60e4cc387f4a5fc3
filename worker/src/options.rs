//! Command-line flags and environment of the worker. The environment
//! variables are Supabase's own names, so the worker runs beside a function
//! or a Supabase project without extra configuration.

use clap::Parser;

#[derive(Debug, Clone, Parser)]
#[command(name = "ourvidz-worker", version, about = "Reference ourvidz GPU worker: claims jobs, renders placeholders, uploads, reports")]
pub struct Options {
    /// Supabase API URL: the queue through /rest/v1 (RPC), Storage at
    /// /storage/v1, functions at /functions/v1. The worker needs nothing else.
    #[arg(long, env = "SUPABASE_URL", default_value = "http://127.0.0.1:54321")]
    pub api_url: String,

    /// The service role key (a JWT with role service_role).
    #[arg(long, env = "SUPABASE_SERVICE_ROLE_KEY", hide_env_values = true)]
    pub service_role_key: String,

    /// Name the worker claims jobs under (default: host name and process id).
    #[arg(long, env = "OURVIDZ_WORKER_ID")]
    pub worker_id: Option<String>,

    /// Jobs rendered at the same time.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub concurrency: u32,

    /// Process the jobs available now, then exit.
    #[arg(long)]
    pub once: bool,

    /// Longest wait, in seconds, between claims while the queue is empty (the
    /// wait starts at a tenth of a second and doubles up to it).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..))]
    pub poll_interval: u64,

    /// Lease taken on each claimed job; the worker heartbeats every third of
    /// it. The SQL API's default: a job whose claim answer never arrived (or
    /// whose worker died) is claimable again after one lease, not minutes.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(5..=3600))]
    pub lease_seconds: u32,

    /// Long edge of rendered pictures, in pixels.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(2..=2048))]
    pub size: u32,

    /// Frames per video.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=240))]
    pub video_frames: u32,

    /// Video frame rate.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=60))]
    pub fps: u32,

    /// Seconds the jobs in hand may take to finish after SIGTERM / Ctrl-C.
    #[arg(long, default_value_t = 30)]
    pub shutdown_grace: u64,
}

impl Options {
    /// The worker id: as given, or `{host}:{pid}`; limited to the characters
    /// job-callback accepts.
    pub fn worker_id(&self) -> String {
        let id = self.worker_id.clone().unwrap_or_else(|| {
            let host = std::env::var("HOSTNAME")
                .ok()
                .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
                .map(|host| host.trim().to_owned())
                .filter(|host| !host.is_empty())
                .unwrap_or_else(|| "worker".to_owned());
            format!("{host}:{}", std::process::id())
        });
        id.chars()
            .map(|c| if c.is_ascii_alphanumeric() || "._:@/-".contains(c) { c } else { '-' })
            .take(128)
            .collect()
    }

    /// `api_url` without a trailing slash.
    pub fn api_base(&self) -> &str {
        self.api_url.trim_end_matches('/')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_with_defaults() {
        let args = ["ourvidz-worker", "--service-role-key", "k", "--once", "--size", "32", "--api-url", "http://api/"];
        let options = Options::parse_from(args);
        assert!(options.once);
        assert_eq!((options.size, options.concurrency, options.lease_seconds), (32, 1, 30));
        assert_eq!(options.api_base(), "http://api");
    }

    #[test]
    fn worker_id_is_sanitised_for_job_callback() {
        let options = Options::parse_from(["ourvidz-worker", "--service-role-key", "k", "--worker-id", "gpu box #1"]);
        assert_eq!(options.worker_id(), "gpu-box--1");
        let generated = Options::parse_from(["ourvidz-worker", "--service-role-key", "k"]).worker_id();
        assert!(generated.ends_with(&format!(":{}", std::process::id())), "{generated}");
    }

    #[test]
    fn out_of_range_flags_are_refused() {
        for flags in [["--concurrency", "0"], ["--size", "1"], ["--lease-seconds", "1"]] {
            let args = ["ourvidz-worker", "--service-role-key", "k", flags[0], flags[1]];
            assert!(Options::try_parse_from(args).is_err(), "{flags:?}");
        }
    }
}
