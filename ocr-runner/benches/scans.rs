//! Accuracy and speed on realistic scans, against plain Tesseract in the same run.
//!
//! `cargo bench -p pdfx-ocr-runner --bench scans -- [--pages N] [--set held-out|tuning]
//!  [--languages kor,eng] [--runs R] [--no-baseline]`
//!
//! For each language: generates N image-only pages (JPEG scans, see
//! `pdfx_ocr_runner::scans`), runs the runner on the PDF (2 workers, pages
//! rendered through pdfium as in production), and plain Tesseract (the Debian
//! `tesseract` CLI, 2 single-threaded processes, each given half of the same
//! pages pre-rendered to 300 DPI PNG files, balanced by amount of text) with each page segmentation mode of
//! the table. Prints CER by language and layout, CPU seconds per page,
//! wall time, and the runner's throughput relative to each baseline. With
//! `--runs R` the speed measurements are repeated R times, alternating the
//! runner and the baselines, and every ratio is printed.
//! Prints numbers and asserts nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pdfx_crd::result::ResultDocument;
use pdfx_ocr_runner::decide::render_size;
use pdfx_ocr_runner::metrics::{character_error_rate, normalize_whitespace};
use pdfx_ocr_runner::pdf::{PdfFile, Renderer};
use pdfx_ocr_runner::scans::{self, Language, Layout, PageSpec};

const RUNNER: &str = env!("CARGO_BIN_EXE_pdfx-ocr-runner");

struct Options {
    pages: usize,
    held_out: bool,
    languages: Vec<Language>,
    runs: usize,
    baseline: bool,
    runner_args: Vec<String>,
    /// Writes the document, every page's truth and the outputs here, with per-page CERs.
    dump: Option<PathBuf>,
}

fn options() -> Options {
    let mut o = Options {
        pages: 20,
        held_out: true,
        languages: vec![Language::Korean, Language::English],
        runs: 1,
        baseline: true,
        runner_args: Vec::new(),
        dump: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--pages" => o.pages = value.parse().unwrap(),
            "--set" => o.held_out = value != "tuning",
            "--runs" => o.runs = value.parse().unwrap(),
            "--dump" => o.dump = Some(PathBuf::from(value)),
            "--languages" => {
                o.languages = value
                    .split(',')
                    .map(|l| match l {
                        "kor" => Language::Korean,
                        "eng" => Language::English,
                        other => panic!("unknown language {other}"),
                    })
                    .collect()
            }
            // Extra arguments for the runner, e.g. `--runner-arg=--segmentation=single-block`.
            a if a.starts_with("--runner-arg=") => {
                o.runner_args
                    .push(a.trim_start_matches("--runner-arg=").to_owned());
                i += 1;
                continue;
            }
            "--no-baseline" => {
                o.baseline = false;
                i += 1;
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    o
}

/// CPU seconds of this process's waited-for children (utime + stime), from /proc.
fn children_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 16 and 17 of stat(5), counted after the command name (field 2).
    let ticks: f64 = fields[13].parse::<f64>().unwrap() + fields[14].parse::<f64>().unwrap();
    ticks / 100.0
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

struct Measured {
    wall: Duration,
    cpu: f64,
    texts: Vec<String>,
}

fn run_runner(pdf: &Path, out: &Path, language: Language, extra: &[String]) -> Measured {
    let _ = std::fs::remove_dir_all(out);
    let cpu = children_cpu();
    let started = Instant::now();
    let status = Command::new(RUNNER)
        .args([
            "extract",
            pdf.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .args([
            "--quiet",
            "--workers",
            "2",
            "--languages",
            language.tesseract(),
        ])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .status()
        .unwrap();
    let wall = started.elapsed();
    assert!(status.success(), "runner failed on {}", pdf.display());
    let doc: ResultDocument =
        serde_json::from_slice(&std::fs::read(out.join("result.json")).unwrap()).unwrap();
    Measured {
        wall,
        cpu: children_cpu() - cpu,
        texts: doc.pages.into_iter().map(|p| p.text).collect(),
    }
}

/// Renders every page as the baseline gets it: 8-bit gray PNG at 300 DPI.
fn prerender(pdf: &Path, dir: &Path, pages: usize) -> Vec<PathBuf> {
    let mut file = PdfFile::open(pdf, None, 16).unwrap();
    let mut renderer = Renderer::default();
    let mut paths = Vec::new();
    for page in 1..=pages as u32 {
        let mut buffer = Vec::new();
        let layout = file
            .with_page(page, |p| {
                let size = render_size(p.width().value, p.height().value, 300, u64::MAX);
                renderer.render_gray(p, size, &mut buffer)
            })
            .unwrap()
            .unwrap();
        let path = dir.join(format!("page-{page:03}.png"));
        let mut encoder = png::Encoder::new(
            std::io::BufWriter::new(std::fs::File::create(&path).unwrap()),
            layout.width,
            layout.height,
        );
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        // 300 DPI in pixels per metre, so Tesseract knows the resolution.
        encoder.set_pixel_dims(Some(png::PixelDimensions {
            xppu: 11811,
            yppu: 11811,
            unit: png::Unit::Meter,
        }));
        let mut writer = encoder.write_header().unwrap();
        let rows: Vec<u8> = buffer
            .chunks(layout.stride as usize)
            .flat_map(|r| r[..layout.width as usize].iter().copied())
            .collect();
        writer.write_image_data(&rows).unwrap();
        writer.finish().unwrap();
        paths.push(path);
    }
    paths
}

/// Plain Tesseract: two single-threaded processes, each reading a list of
/// half the pages (so models load once per process, as a batch user would).
/// The halves are balanced by each page's amount of reference text (longest
/// first, each to the lighter half), so that neither process idles while the
/// other works: a split by page parity would give one process all two-column
/// and table pages, since the layout cycles with the seed.
fn run_tesseract(
    images: &[PathBuf],
    costs: &[usize],
    dir: &Path,
    languages: &str,
    psm: u32,
) -> Measured {
    let halves = balanced_halves(images, costs);
    let cpu = children_cpu();
    let started = Instant::now();
    let children: Vec<_> = halves
        .iter()
        .enumerate()
        .map(|(h, half)| {
            let list = dir.join(format!("list-{h}.txt"));
            let names: Vec<String> = half.iter().map(|(_, p)| p.display().to_string()).collect();
            std::fs::write(&list, names.join("\n") + "\n").unwrap();
            let base = dir.join(format!("out-{h}"));
            let child = Command::new("tesseract")
                .arg(&list)
                .arg(&base)
                .args(["-l", languages, "--psm", &psm.to_string()])
                .env("OMP_THREAD_LIMIT", "1")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("the tesseract CLI (apt install tesseract-ocr)");
            (child, base)
        })
        .collect();
    let mut texts = vec![String::new(); images.len()];
    for (h, (mut child, base)) in children.into_iter().enumerate() {
        assert!(child.wait().unwrap().success(), "tesseract failed");
        let text = std::fs::read_to_string(base.with_extension("txt")).unwrap();
        for ((index, _), page) in halves[h].iter().zip(text.split('\u{c}')) {
            texts[*index] = page.to_owned();
        }
    }
    Measured {
        wall: started.elapsed(),
        cpu: children_cpu() - cpu,
        texts,
    }
}

fn balanced_halves<'a>(images: &'a [PathBuf], costs: &[usize]) -> Vec<Vec<(usize, &'a PathBuf)>> {
    let mut order: Vec<usize> = (0..images.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(costs[i]));
    let mut halves: Vec<Vec<(usize, &PathBuf)>> = vec![Vec::new(), Vec::new()];
    let mut loads = [0usize; 2];
    for i in order {
        let lighter = usize::from(loads[1] < loads[0]);
        loads[lighter] += costs[i];
        halves[lighter].push((i, &images[i]));
    }
    for half in &mut halves {
        half.sort_by_key(|(i, _)| *i);
    }
    halves
}

/// Errors and reference characters per group, so that CER is weighted by length.
#[derive(Default, Clone, Copy)]
struct Tally {
    errors: f64,
    chars: f64,
}

impl Tally {
    fn add(&mut self, truth: &str, text: &str) {
        let chars = normalize_whitespace(truth).chars().count() as f64;
        self.errors += character_error_rate(truth, text) * chars;
        self.chars += chars;
    }

    fn cer(&self) -> f64 {
        100.0 * self.errors / self.chars.max(1.0)
    }
}

fn cer_by_layout(
    specs: &[PageSpec],
    truths: &[String],
    texts: &[String],
) -> (Tally, BTreeMap<String, Tally>) {
    let mut total = Tally::default();
    let mut groups: BTreeMap<String, Tally> = BTreeMap::new();
    for ((spec, truth), text) in specs.iter().zip(truths).zip(texts) {
        total.add(truth, text);
        groups
            .entry(format!("{:?}", spec.layout))
            .or_default()
            .add(truth, text);
        let size = match spec.size as u32 {
            0..=9 => "8pt",
            10..=13 => "10-12pt",
            _ => "16-24pt",
        };
        groups.entry(size.to_owned()).or_default().add(truth, text);
    }
    (total, groups)
}

fn dump(dir: &Path, name: &str, m: &Measured, specs: &[PageSpec], truths: &[String]) {
    let dir = dir.join(name.replace([' ', '+', '('], "_").replace([')', ','], ""));
    std::fs::create_dir_all(&dir).unwrap();
    let mut index = String::new();
    for (i, ((spec, truth), text)) in specs.iter().zip(truths).zip(&m.texts).enumerate() {
        std::fs::write(dir.join(format!("{:03}.truth.txt", i + 1)), truth).unwrap();
        std::fs::write(dir.join(format!("{:03}.ocr.txt", i + 1)), text).unwrap();
        index.push_str(&format!(
            "{:03} {:>6.2} % {}\n",
            i + 1,
            100.0 * character_error_rate(truth, text),
            spec.label()
        ));
    }
    std::fs::write(dir.join("index.txt"), index).unwrap();
}

fn print_cer(name: &str, m: &Measured, specs: &[PageSpec], truths: &[String]) -> f64 {
    let (total, groups) = cer_by_layout(specs, truths, &m.texts);
    let layouts: Vec<String> = groups
        .iter()
        .map(|(k, t)| format!("{k} {:.2}", t.cer()))
        .collect();
    println!(
        "  {name:<28} CER {:>6.2} %   CPU {:>5.2} s/page   wall {:>6.1} s   [{}]",
        total.cer(),
        m.cpu / specs.len() as f64,
        m.wall.as_secs_f64(),
        layouts.join(", ")
    );
    total.cer()
}

fn main() {
    if std::env::var_os("OMP_THREAD_LIMIT").is_none() {
        let error = Command::new(std::env::current_exe().unwrap())
            .args(std::env::args_os().skip(1))
            .env("OMP_THREAD_LIMIT", "1")
            .exec();
        panic!("re-exec with OMP_THREAD_LIMIT=1 failed: {error}");
    }
    let o = options();
    let dir = tempfile::tempdir().unwrap();
    println!(
        "# realistic scans: {} set, {} pages per language, {} cores, load average {} at start",
        if o.held_out { "held-out" } else { "tuning" },
        o.pages,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        load_average()
    );
    if !o.runner_args.is_empty() {
        println!("# runner arguments: {}", o.runner_args.join(" "));
    }
    for &language in &o.languages {
        let specs = if o.held_out {
            scans::held_out_set(language, o.pages)
        } else {
            scans::tuning_set(language, o.pages)
        };
        let pdf = dir.path().join(format!("{language:?}.pdf"));
        let generated = Instant::now();
        let truths = scans::write_pdf(&pdf, &specs).unwrap();
        let costs: Vec<usize> = truths.iter().map(|t| t.chars().count()).collect();
        let images_dir = dir.path().join(format!("{language:?}-png"));
        std::fs::create_dir_all(&images_dir).unwrap();
        let images = prerender(&pdf, &images_dir, specs.len());
        if let Some(d) = &o.dump {
            // The document itself, to profile or re-run the runner on by hand.
            let to = d.join(format!("{language:?}"));
            std::fs::create_dir_all(&to).unwrap();
            std::fs::copy(&pdf, to.join("pages.pdf")).unwrap();
        }
        println!(
            "\n## {} ({}), {} pages: {}; generated in {:.1} s",
            language.tesseract(),
            if o.held_out { "held-out" } else { "tuning" },
            specs.len(),
            summarize_layouts(&specs),
            generated.elapsed().as_secs_f64()
        );
        let psms: &[(&str, u32)] = match language {
            Language::Korean => &[("kor+eng", 3), ("kor+eng", 4), ("kor+eng", 6), ("kor", 4)],
            Language::English => &[("eng", 3), ("eng", 4), ("eng", 6)],
        };
        let mut walls: Vec<(String, Vec<f64>, Vec<f64>)> = Vec::new();
        for run in 0..o.runs {
            let out = dir.path().join(format!("{language:?}-out"));
            let runner = run_runner(&pdf, &out, language, &o.runner_args);
            if run == 0 {
                print_cer("runner (PDF, 2 workers)", &runner, &specs, &truths);
                if let Some(d) = &o.dump {
                    dump(
                        &d.join(format!("{language:?}")),
                        "runner",
                        &runner,
                        &specs,
                        &truths,
                    );
                }
            }
            let mut row = vec![("runner".to_owned(), runner.wall.as_secs_f64(), runner.cpu)];
            if o.baseline {
                for &(languages, psm) in psms {
                    let work = dir
                        .path()
                        .join(format!("{language:?}-tess-{languages}-{psm}"));
                    std::fs::create_dir_all(&work).unwrap();
                    let m = run_tesseract(&images, &costs, &work, languages, psm);
                    let name = format!("tesseract {languages} PSM {psm}");
                    if run == 0 {
                        print_cer(&name, &m, &specs, &truths);
                        if let Some(d) = &o.dump {
                            dump(&d.join(format!("{language:?}")), &name, &m, &specs, &truths);
                        }
                    }
                    row.push((name, m.wall.as_secs_f64(), m.cpu));
                }
            }
            for (name, wall, cpu) in row {
                match walls.iter_mut().find(|(n, _, _)| *n == name) {
                    Some((_, w, c)) => {
                        w.push(wall);
                        c.push(cpu);
                    }
                    None => walls.push((name, vec![wall], vec![cpu])),
                }
            }
        }
        if walls.len() > 1 {
            let (_, runner_walls, runner_cpus) = walls[0].clone();
            println!(
                "  throughput of the runner relative to plain Tesseract (wall time ratio per run; CPU-time ratio per run):"
            );
            for (name, w, c) in &walls[1..] {
                let wall_ratios: Vec<String> = w
                    .iter()
                    .zip(&runner_walls)
                    .map(|(t, r)| format!("{:.2}", t / r))
                    .collect();
                let cpu_ratios: Vec<String> = c
                    .iter()
                    .zip(&runner_cpus)
                    .map(|(t, r)| format!("{:.2}", t / r))
                    .collect();
                println!(
                    "    vs {name:<24} wall {} x   cpu {} x",
                    wall_ratios.join(" "),
                    cpu_ratios.join(" ")
                );
            }
        }
        println!("  load average after: {}", load_average());
    }
}

fn summarize_layouts(specs: &[PageSpec]) -> String {
    let mut counts: BTreeMap<Layout, usize> = BTreeMap::new();
    for s in specs {
        *counts.entry(s.layout).or_default() += 1;
    }
    counts
        .iter()
        .map(|(l, n)| format!("{n} {l:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}
