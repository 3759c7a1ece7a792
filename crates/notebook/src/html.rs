//! The notebook's run as one page: `index.html` beside `results.json` and
//! the figures. Every section in order with the figures and tables it
//! printed, then the notebook-vs-gradtape table. Self-contained: no script,
//! nothing fetched; the figures are referenced by their file names, so the
//! page works wherever the output directory is copied.

use crate::dropout_forward::DropoutStats;
use crate::fc_gradcheck::GradcheckCase;
use crate::final_run::FinalResult;
use crate::report::{summary_rows, write_atomic, Results, SUMMARY_HEADER};
use crate::RunSummary;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The page's file name in the output directory.
pub const PAGE: &str = "index.html";

/// The sections of the page, in order: `(id, title)`. The ids are the
/// anchors of the page's `<section>` elements.
pub const SECTIONS: [(&str, &str); 7] = [
    ("dropout-forward", "1. Dropout forward pass"),
    ("dropout-backward", "2. Dropout backward pass"),
    (
        "gradient-check",
        "3. Fully connected net with dropout: gradient check",
    ),
    ("regularization", "4. Regularization experiment"),
    ("final-net", "5. Train a good model"),
    ("notebook-vs-gradtape", "Notebook vs gradtape"),
    ("timings", "Wall time per section"),
];

/// The figures the page shows, as written by
/// [`crate::regularization::plot`] and [`crate::final_run::plot`].
pub const FIGURES: [&str; 2] = ["regularization.png", "final.png"];

/// Writes [`render`]`(results)` to `dir/index.html`, atomically (a temporary
/// file renamed into place), and returns the path. The figures are expected
/// beside it (see [`FIGURES`]).
pub fn write_html(dir: &Path, results: &Results) -> std::io::Result<PathBuf> {
    write_atomic(dir, PAGE, &render(results))
}

/// The whole page as HTML text: one `<section>` per entry of [`SECTIONS`],
/// in order (`crates/notebook/tests/html.rs` renders one from made-up
/// results and checks every section and every image).
pub fn render(r: &Results) -> String {
    let mut h = String::new();
    h.push_str(HEAD);
    let _ = writeln!(
        h,
        "<h1>The CS231n Dropout notebook, on gradtape</h1>\n<p>One run of \
         <code>cargo run --release --example notebook</code>: {} in all. \
         The numbers are in <a href=\"results.json\">results.json</a>.</p>",
        esc(&seconds(r.total_seconds))
    );
    h.push_str("<nav><ol>\n");
    for (id, title) in SECTIONS {
        let _ = writeln!(h, "<li><a href=\"#{id}\">{}</a></li>", esc(title));
    }
    h.push_str("</ol></nav>\n");

    let [forward, backward, gradcheck, regularization, final_net, summary, timings] = SECTIONS;
    section(&mut h, forward, |h| dropout_forward(h, &r.dropout_forward));
    section(&mut h, backward, |h| {
        let _ = writeln!(
            h,
            "<p>Dropout's <code>dx</code> against centered finite differences, \
             on a 10 x 10 input:</p>\n<pre>dx relative error: {}</pre>",
            esc(&format!("{:e}", r.dropout_backward_rel_error))
        );
    });
    section(&mut h, gradcheck, |h| gradient_check(h, &r.gradcheck));
    section(&mut h, regularization, |h| {
        regularization_section(h, &r.regularization)
    });
    section(&mut h, final_net, |h| final_section(h, &r.final_run));
    section(&mut h, summary, |h| {
        let rows: Vec<Vec<String>> = summary_rows(r).into_iter().map(Vec::from).collect();
        table(h, &SUMMARY_HEADER, &rows);
    });
    section(&mut h, timings, |h| {
        let mut rows: Vec<Vec<String>> = r
            .section_seconds
            .iter()
            .map(|(name, s)| vec![name.clone(), seconds(*s)])
            .collect();
        rows.push(vec!["whole notebook".into(), seconds(r.total_seconds)]);
        table(h, &["section", "wall time"], &rows);
    });
    h.push_str("</body>\n</html>\n");
    h
}

/// The page's head: a little inline style, nothing loaded.
const HEAD: &str = "<!DOCTYPE html>
<html lang=\"en\">
<head>
<meta charset=\"utf-8\">
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">
<title>gradtape: the CS231n Dropout notebook</title>
<style>
body { font-family: sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.4; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.6rem; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
pre { background: #f6f6f6; padding: 0.5rem; overflow-x: auto; }
section { margin-top: 2rem; }
</style>
</head>
<body>
";

/// Escapes `s` for HTML text and attribute values.
///
/// ```
/// use gradtape_notebook::html::esc;
/// assert_eq!(esc(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
/// ```
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn seconds(s: f64) -> String {
    format!("{s:.1} s")
}

/// One `<section>` with its anchor and heading, the body from `body`.
fn section(h: &mut String, (id, title): (&str, &str), body: impl FnOnce(&mut String)) {
    let _ = writeln!(h, "<section id=\"{id}\">\n<h2>{}</h2>", esc(title));
    body(h);
    h.push_str("</section>\n");
}

/// A table; cells that read as numbers are right-aligned.
fn table<S: AsRef<str>>(h: &mut String, header: &[&str], rows: &[Vec<S>]) {
    h.push_str("<table>\n<tr>");
    for c in header {
        let _ = write!(h, "<th>{}</th>", esc(c));
    }
    h.push_str("</tr>\n");
    for row in rows {
        h.push_str("<tr>");
        for c in row {
            let c = c.as_ref();
            let numeric = c.trim_end_matches(" s").parse::<f64>().is_ok();
            let class = if numeric { " class=\"num\"" } else { "" };
            let _ = write!(h, "<td{class}>{}</td>", esc(c));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
}

fn figure(h: &mut String, file: &str, alt: &str) {
    let _ = writeln!(
        h,
        "<p><a href=\"{f}\"><img src=\"{f}\" alt=\"{a}\"></a></p>",
        f = esc(file),
        a = esc(alt)
    );
}

fn dropout_forward(h: &mut String, stats: &[DropoutStats]) {
    h.push_str(
        "<p>Inverted dropout on <code>x = randn(n, n) + 10</code>: at train time \
         about 1 - p of the units are zeroed and the mean is kept; at test time the \
         output is the input.</p>\n",
    );
    let rows: Vec<Vec<String>> = stats
        .iter()
        .map(|s| {
            vec![
                s.p.to_string(),
                s.input_mean.to_string(),
                s.train_mean.to_string(),
                s.test_mean.to_string(),
                s.train_zero_fraction.to_string(),
                s.test_zero_fraction.to_string(),
            ]
        })
        .collect();
    table(
        h,
        &[
            "p",
            "mean of input",
            "mean of train-time output",
            "mean of test-time output",
            "fraction of train-time output set to zero",
            "fraction of test-time output set to zero",
        ],
        &rows,
    );
}

fn gradient_check(h: &mut String, cases: &[GradcheckCase]) {
    h.push_str(
        "<p>Every parameter of the net (D = 15, H = [20, 30], C = 10) against \
         centered finite differences.</p>\n",
    );
    for c in cases {
        let bn = if c.use_batchnorm { ", batchnorm" } else { "" };
        let _ = writeln!(
            h,
            "<h3>dropout = {}{bn} (N = {})</h3>\n<p>Initial loss: {}; largest relative \
             error: {}</p>",
            esc(&c.dropout.to_string()),
            c.n,
            esc(&c.initial_loss.to_string()),
            esc(&format!("{:.2e}", c.max_rel_error()))
        );
        let rows: Vec<Vec<String>> = c
            .params
            .iter()
            .map(|(name, err, g)| vec![name.clone(), format!("{err:.2e}"), format!("{g:.2e}")])
            .collect();
        table(
            h,
            &["parameter", "relative error", "largest |analytic gradient|"],
            &rows,
        );
    }
}

fn regularization_section(h: &mut String, runs: &[RunSummary]) {
    h.push_str(
        "<p>Two nets trained on the same small subset, with and without dropout: \
         with dropout the train accuracy grows more slowly and the validation \
         accuracy ends higher.</p>\n",
    );
    figure(
        h,
        FIGURES[0],
        "train and validation accuracy per epoch, per keep probability",
    );
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            let (train, val) = r.final_accuracies();
            vec![
                r.label.clone(),
                format!("{train:.3}"),
                format!("{val:.3}"),
                format!("{:.3}", r.best_val_acc),
                seconds(r.seconds),
            ]
        })
        .collect();
    table(
        h,
        &[
            "run",
            "final train acc",
            "final val acc",
            "best val acc",
            "wall time",
        ],
        &rows,
    );
}

fn final_section(h: &mut String, f: &FinalResult) {
    let o = &f.options;
    let settings = vec![
        vec!["hidden layers".to_string(), format!("{:?}", o.hidden_dims)],
        vec!["keep probability".into(), o.dropout.to_string()],
        vec!["batchnorm".into(), o.use_batchnorm.to_string()],
        vec!["weight scale".into(), o.weight_scale.to_string()],
        vec!["L2 strength".into(), o.reg.to_string()],
        vec!["epochs".into(), o.epochs.to_string()],
        vec!["batch size".into(), o.batch_size.to_string()],
        vec!["Adam learning rate".into(), o.learning_rate.to_string()],
        vec![
            "learning-rate decay per epoch".into(),
            o.lr_decay.to_string(),
        ],
        vec!["seed".into(), o.seed.to_string()],
    ];
    table(h, &["setting", "value"], &settings);
    figure(
        h,
        FIGURES[1],
        "accuracy history and training loss of the final net",
    );
    let _ = writeln!(
        h,
        "<pre>Validation set accuracy: {}\nTest set accuracy: {}</pre>",
        esc(&f.val_acc.to_string()),
        esc(&f.test_acc.to_string())
    );
    let run = &f.run;
    let losses = run.epoch_mean_loss();
    let rows: Vec<Vec<String>> = (0..run.train_acc_history.len())
        .map(|e| {
            let cell = |v: Option<&f64>, digits: usize| {
                v.map_or_else(|| "-".to_string(), |x| format!("{x:.digits$}"))
            };
            vec![
                e.to_string(),
                cell(e.checked_sub(1).and_then(|i| losses.get(i)), 4),
                cell(run.train_acc_history.get(e), 3),
                cell(run.val_acc_history.get(e), 3),
                e.checked_sub(1)
                    .and_then(|i| run.epoch_seconds.get(i))
                    .map_or_else(|| "-".to_string(), |s| seconds(*s)),
            ]
        })
        .collect();
    table(
        h,
        &["epoch", "mean loss", "train acc", "val acc", "epoch time"],
        &rows,
    );
}
