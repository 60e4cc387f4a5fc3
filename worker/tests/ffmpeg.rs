//! The reference worker's videos play: ffmpeg (Debian's, installed by
//! scripts/setup.sh) probes and decodes the MP4 the worker renders — the
//! hand-written H.264 (I_PCM) bitstream in the hand-assembled container —
//! and gets back every frame at the size, rate and duration the callback
//! reports, with the pictures the worker drew.

use std::path::PathBuf;
use std::process::Command;

use ourvidz_worker::job::{render_asset, ClaimedJob, RenderSettings};
use ourvidz_worker::render::render;
use serde_json::{json, Value};

const SETTINGS: RenderSettings = RenderSettings { long_edge: 72, video_frames: 6, fps: 4 };

/// A video job as claim_jobs hands it out.
fn video_job(aspect_ratio: &str) -> ClaimedJob {
    serde_json::from_value(json!({
        "id": "9a3e2b8c-5d4f-4e6a-8b7c-1d2e3f4a5b6c",
        "user_id": "6f1c7c33-7a4e-4b43-9d55-3f0cf1d2f001",
        "mode": "video", "job_type": "video_fast", "prompt": "waves at dusk", "batch_size": 1,
        "generation_seed": 42, "generation_settings": {"aspect_ratio": aspect_ratio}
    }))
    .expect("a claimed job")
}

/// A file in the temporary directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn with(name: &str, bytes: &[u8]) -> TempFile {
        let path = std::env::temp_dir().join(format!("ourvidz-{}-{name}", std::process::id()));
        std::fs::write(&path, bytes).expect("write the temporary file");
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn run(program: &str, args: &[&str]) -> Vec<u8> {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program} (scripts/setup.sh installs ffmpeg): {e}"));
    assert!(output.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    output.stdout
}

#[test]
fn ffmpeg_decodes_every_frame_of_the_workers_videos() {
    for aspect_ratio in ["16:9", "9:16", "1:1"] {
        let job = video_job(aspect_ratio);
        let asset = render_asset(&job, 0, SETTINGS, None).expect("a rendered video");
        assert_eq!(asset.file.content_type, "video/mp4");
        let entry = &asset.callback_entry;
        let (width, height) = (entry["width"].as_u64().expect("width"), entry["height"].as_u64().expect("height"));
        let file = TempFile::with(&format!("{}.mp4", aspect_ratio.replace(':', "x")), &asset.file.bytes);
        let path = file.0.to_str().expect("a UTF-8 path");

        // What the container and the stream say, read by ffprobe (every frame counted).
        let probe: Value = serde_json::from_slice(&run(
            "ffprobe",
            &["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
              "stream=codec_name,profile,width,height,avg_frame_rate,nb_read_frames:format=duration", "-of", "json", path],
        ))
        .expect("ffprobe prints JSON");
        let stream = &probe["streams"][0];
        assert_eq!(stream["codec_name"], "h264", "{aspect_ratio}: {probe}");
        assert_eq!(stream["profile"], "Constrained Baseline", "{aspect_ratio}: {probe}");
        assert_eq!((stream["width"].as_u64(), stream["height"].as_u64()), (Some(width), Some(height)), "{aspect_ratio}");
        assert_eq!(stream["nb_read_frames"], SETTINGS.video_frames.to_string(), "{aspect_ratio}: {probe}");
        assert_eq!(stream["avg_frame_rate"], format!("{}/1", SETTINGS.fps), "{aspect_ratio}: {probe}");
        let duration: f64 = probe["format"]["duration"].as_str().and_then(|d| d.parse().ok()).expect("a duration");
        assert!((duration - entry["duration_seconds"].as_f64().expect("duration_seconds")).abs() < 1e-3, "{duration}");

        // Decoded strictly (-xerror: any bitstream error fails), the frames are
        // the worker's pictures, up to 4:2:0 colour conversion.
        let raw = run("ffmpeg", &["-v", "error", "-xerror", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]);
        let frame_bytes = (width * height * 3) as usize;
        assert_eq!(raw.len(), frame_bytes * SETTINGS.video_frames as usize, "{aspect_ratio}: every frame decoded");
        let seed = entry["generation_seed"].as_i64().expect("a seed");
        for (index, decoded) in raw.chunks(frame_bytes).enumerate() {
            let drawn = render(&job.prompt, seed, None, width as u32, height as u32, index as u32);
            let difference: u64 = drawn.rgb.iter().zip(decoded).map(|(a, b)| u64::from(a.abs_diff(*b))).sum();
            let mean = difference as f64 / frame_bytes as f64;
            assert!(mean < 4.0, "{aspect_ratio} frame {index}: decoded pixels differ by {mean:.2} on average");
        }
        assert_ne!(raw[..frame_bytes], raw[frame_bytes..2 * frame_bytes], "{aspect_ratio}: the picture moves");
    }
}
