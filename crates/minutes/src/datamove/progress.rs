//! Progress bars of the data tools (hidden when output is not for a person).
use indicatif::{ProgressBar, ProgressStyle};

pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A spinner counting rows of `table`.
    pub fn rows(show: bool, table: &str) -> Progress {
        Progress::start(show, table, "{prefix:>22} {spinner} {pos} rows {msg}")
    }

    /// A bar over `total` bytes.
    pub fn bytes(show: bool, label: &str, total: u64) -> Progress {
        let p = Progress::start(
            show,
            label,
            "{prefix:>22} [{bar:30}] {bytes}/{total_bytes} {msg}",
        );
        if let Some(bar) = &p.bar {
            bar.set_length(total);
        }
        p
    }

    fn start(show: bool, label: &str, template: &str) -> Progress {
        if !show {
            return Progress { bar: None };
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(label.to_string());
        Progress { bar: Some(bar) }
    }

    pub fn advance(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    pub fn finish(&self, done: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            bar.finish_with_message("done");
        }
    }
}
