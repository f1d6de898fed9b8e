//! `normalize <in> <out.raw>`: decode any accepted file to 16 kHz mono s16le raw, streaming.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

use minutes_audio::{decode_16k_mono, AudioError, Limits};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, input, output] = args.as_slice() else {
        eprintln!("usage: normalize <in> <out.raw>");
        return ExitCode::from(2);
    };
    match run(input, output) {
        Ok(samples) => {
            println!("{samples}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("normalize: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(input: &str, output: &str) -> Result<u64, AudioError> {
    let mut out = BufWriter::with_capacity(1 << 16, File::create(output)?);
    let mut bytes = Vec::new();
    let samples = decode_16k_mono(input.as_ref(), &Limits::default(), &mut |chunk| {
        bytes.clear();
        for &s in chunk {
            bytes.extend_from_slice(&((s * 32768.0).round() as i16).to_le_bytes());
        }
        out.write_all(&bytes)?;
        Ok(())
    })?;
    out.flush()?;
    Ok(samples)
}
