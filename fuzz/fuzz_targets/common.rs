//! Shared by the reader targets: writes the input to a file and reads it through etl's own
//! `local_file` source (schema inference, `schema:`-free decoding, decompression), exactly as
//! `etl run` would. Errors are fine; a panic, an abort, a hang or a huge allocation is a bug.

use futures::StreamExt;
use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

fn dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("etl-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("temp dir");
        d
    })
}

/// How the text formats' bytes are wrapped (chosen by one input byte).
pub enum Wrap {
    /// The bytes are the file.
    Plain,
    /// The bytes are a `.gz` / `.zst` file as they are (mostly invalid streams).
    RawGzip,
    RawZstd,
    /// The bytes are compressed first (valid streams around arbitrary text).
    Gzip,
    Zstd,
}

impl Wrap {
    pub fn from_byte(b: u8) -> Wrap {
        match b % 8 {
            4 => Wrap::RawGzip,
            5 => Wrap::RawZstd,
            6 => Wrap::Gzip,
            7 => Wrap::Zstd,
            _ => Wrap::Plain,
        }
    }

    fn apply(&self, data: &[u8]) -> (Vec<u8>, &'static str) {
        match self {
            Wrap::Plain => (data.to_vec(), ""),
            Wrap::RawGzip => (data.to_vec(), ".gz"),
            Wrap::RawZstd => (data.to_vec(), ".zst"),
            Wrap::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(data).expect("gzip");
                (e.finish().expect("gzip"), ".gz")
            }
            Wrap::Zstd => (zstd::encode_all(data, 1).expect("zstd"), ".zst"),
        }
    }
}

/// Reads `data` as a file of `format` with extra source `config:` lines, to the end.
pub fn read(format: &str, wrap: Wrap, config: &str, data: &[u8]) {
    let (bytes, suffix) = wrap.apply(data);
    let file = dir().join(format!("data.{format}{suffix}"));
    std::fs::write(&file, bytes).expect("write input");
    let text = format!(
        "version: 1\nname: fuzz\nsource:\n  connector_type: local_file\n  config:\n    file_path: {}\n    format: {format}\n    parallel_files: 1\n{config}destination:\n  connector_type: local_file\n  config:\n    base_path: {}\nstreams:\n  - name: data\n",
        file.display(),
        dir().join("out").display()
    );
    let spec = etl::spec::parse(&text, "fuzz.yaml").expect("the harness's spec is valid");
    runtime().block_on(async {
        let Ok(source) = spec.source.build(&spec.defaults) else {
            return;
        };
        let request = etl::connectors::ReadRequest::new(spec.streams[0].clone(), 64);
        let Ok(reader) = source.read(request).await else {
            return;
        };
        let mut batches = reader.batches;
        while let Some(b) = batches.next().await {
            if b.is_err() {
                break;
            }
        }
    });
}
