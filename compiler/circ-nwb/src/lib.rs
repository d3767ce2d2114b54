//! NWB files (Neurodata Without Borders 2.7, the format of the DANDI
//! archive) of a circ run's recordings, made in memory with HDF5 so that
//! the run's folder receives them with its other files, whole or not at
//! all: spikes as the `units` table (`spike_times` with its
//! `VectorIndex`, and each unit's population and neuron), recorded
//! variables, rates and synapse variables as `TimeSeries` in
//! `acquisition` (their SI unit, and `starting_time` with `rate` when
//! sampled every k steps, else `timestamps`), and the model's text and
//! circ's version in `general`.
//!
//! It owns the NWB layout; it must not run simulations, read the
//! environment or print.
#![allow(unsafe_code)]

use circ_runtime::layout::{NetLayout, RecordKind};
use circ_runtime::output::RunInfo;
use circ_runtime::sim::RunResult;
use hdf5::types::VarLenUnicode;
use hdf5::{Group, Location};

/// The NWB schema version written.
pub const NWB_VERSION: &str = "2.7.0";

/// What the file says about the run besides its recordings.
pub struct Meta<'a> {
    /// The model file's text (`general/source_script`).
    pub model_text: &'a str,
    /// When the run started, ISO 8601 with its time zone
    /// (`2026-12-05T16:00:00+00:00`): the session's start.
    pub start_time: &'a str,
    /// A unique identifier (a UUID), and the object ids' source: 128
    /// random bits per id, from the caller (this crate reads no clock or
    /// entropy).
    pub ids: &'a mut dyn FnMut() -> u128,
}

type R<T> = Result<T, String>;

fn h5(e: hdf5::Error) -> String {
    format!("NWB: {e}")
}

/// A UUID (version 4 form) from 128 random bits.
fn uuid(bits: u128) -> String {
    let b = (bits & !(0xf000 << 64) | (0x4000 << 64)) & !(0xc000 << 48) | (0x8000 << 48);
    let h = format!("{b:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn text(s: &str) -> R<VarLenUnicode> {
    s.parse::<VarLenUnicode>()
        .map_err(|e| format!("NWB: text {s:?}: {e}"))
}

/// Writes string attribute `name` on `at`.
fn attr_text(at: &Location, name: &str, value: &str) -> R<()> {
    at.new_attr::<VarLenUnicode>()
        .shape(())
        .create(name)
        .and_then(|a| a.write_scalar(&text(value)?))
        .map_err(h5)
}

/// A one-dimensional dataset `name` in `g` holding `data`.
fn array<T: hdf5::H5Type>(g: &Group, name: &str, data: &[T]) -> R<hdf5::Dataset> {
    g.new_dataset_builder()
        .with_data(data)
        .create(name)
        .map_err(h5)
}

/// Writes scalar attribute `name` on `at`.
fn attr_scalar<T: hdf5::H5Type>(at: &Location, name: &str, value: T) -> R<()> {
    at.new_attr::<T>()
        .shape(())
        .create(name)
        .and_then(|a| a.write_scalar(&value))
        .map_err(h5)
}

/// The attributes every NWB object carries: its namespace, type and id.
fn typed(at: &Location, namespace: &str, kind: &str, meta: &mut Meta<'_>) -> R<()> {
    attr_text(at, "namespace", namespace)?;
    attr_text(at, "neurodata_type", kind)?;
    attr_text(at, "object_id", &uuid((meta.ids)()))
}

/// A scalar text dataset.
fn dataset_text(g: &Group, name: &str, value: &str) -> R<hdf5::Dataset> {
    let d = g
        .new_dataset::<VarLenUnicode>()
        .shape(())
        .create(name)
        .map_err(h5)?;
    d.write_scalar(&text(value)?).map_err(h5)?;
    Ok(d)
}

/// The file's bytes.
pub fn render(
    layout: &NetLayout,
    result: &RunResult,
    info: &RunInfo,
    meta: &mut Meta<'_>,
) -> R<Vec<u8>> {
    let file = hdf5::File::with_options()
        .with_fapl(|p| p.core_filebacked(false))
        .create("circ-run.nwb")
        .map_err(h5)?;
    let root: &Group = &file;
    typed(root, "core", "NWBFile", meta)?;
    attr_text(root, "nwb_version", NWB_VERSION)?;
    let identifier = uuid((meta.ids)());
    dataset_text(root, "identifier", &identifier)?;
    dataset_text(
        root,
        "session_description",
        &format!(
            "a circ simulation of circuit {} from {} (seed {}, dt {} s)",
            info.circuit, info.file, info.seed, result.dt
        ),
    )?;
    dataset_text(root, "session_start_time", meta.start_time)?;
    dataset_text(root, "timestamps_reference_time", meta.start_time)?;
    let created = [text(meta.start_time)?];
    array(root, "file_create_date", &created)?;
    for g in [
        "acquisition",
        "analysis",
        "processing",
        "stimulus",
        "general",
    ] {
        root.create_group(g).map_err(h5)?;
    }
    let stimulus = root.group("stimulus").map_err(h5)?;
    stimulus.create_group("presentation").map_err(h5)?;
    stimulus.create_group("templates").map_err(h5)?;
    // The model and what ran it.
    let general = root.group("general").map_err(h5)?;
    let script = dataset_text(&general, "source_script", meta.model_text)?;
    attr_text(&script, "file_name", &info.file)?;
    dataset_text(
        &general,
        "data_collection",
        &format!(
            "simulated by circ {} ({} backend), seed {}, time step {} s, {} steps",
            info.version, info.backend, info.seed, result.dt, result.steps
        ),
    )?;
    dataset_text(
        &general,
        "experiment_description",
        &format!(
            "a simulation of circuit {} from {}",
            info.circuit, info.file
        ),
    )?;
    let keywords = [
        text("simulation")?,
        text("spiking neural network")?,
        text("circ")?,
    ];
    array(&general, "keywords", &keywords)?;
    // The subject is the simulated network (DANDI asks every file for one).
    let subject = general.create_group("subject").map_err(h5)?;
    typed(&subject, "core", "Subject", meta)?;
    dataset_text(&subject, "subject_id", &format!("circuit {}", info.circuit))?;
    dataset_text(
        &subject,
        "description",
        &format!(
            "a simulated network: circuit {} of {} (seed {})",
            info.circuit, info.file, info.seed
        ),
    )?;
    // A simulated network comes to be when the run starts; it has no sex
    // (`U`, unknown, in NWB's terms) and no species.
    dataset_text(&subject, "date_of_birth", meta.start_time)?;
    dataset_text(&subject, "sex", "U")?;
    units(root, layout, result, meta)?;
    series(root, layout, result, meta)?;
    file.flush().map_err(h5)?;
    image(&file)
}

/// The in-memory file's bytes.
fn image(file: &hdf5::File) -> R<Vec<u8>> {
    use hdf5_sys::h5f::H5Fget_file_image;
    // SAFETY: `file` is open; a null buffer asks for the size only.
    let size = unsafe { H5Fget_file_image(file.id(), std::ptr::null_mut(), 0) };
    if size < 0 {
        return Err("NWB: HDF5 gave no file image".into());
    }
    let mut bytes = vec![0u8; size as usize];
    // SAFETY: the buffer holds `size` bytes, what HDF5 said it needs.
    let got = unsafe { H5Fget_file_image(file.id(), bytes.as_mut_ptr().cast(), bytes.len()) };
    if got != size {
        return Err("NWB: HDF5 gave a file image of another size".into());
    }
    Ok(bytes)
}

/// One row per neuron of every population whose spikes are recorded:
/// its spike times, population and index.
fn units(root: &Group, layout: &NetLayout, result: &RunResult, meta: &mut Meta<'_>) -> R<()> {
    let pops: Vec<usize> = (0..layout.pops.len())
        .filter(|&p| {
            layout
                .records
                .iter()
                .any(|r| r.pop == p && r.kind == RecordKind::Spikes)
        })
        .collect();
    if pops.is_empty() {
        return Ok(());
    }
    let (mut times, mut ends, mut names, mut neurons) = (vec![], vec![], vec![], vec![]);
    for &p in &pops {
        let pop = &layout.pops[p];
        // Each neuron's times in order (the spikes are by step).
        let mut by: Vec<Vec<f64>> = vec![vec![]; pop.size];
        for &(n, i) in &result.spikes[p] {
            if let Some(v) = by.get_mut(i as usize) {
                v.push(n as f64 * result.dt);
            }
        }
        let name = text(&pop.name)?;
        for (i, t) in by.into_iter().enumerate() {
            times.extend(t);
            ends.push(times.len() as u64);
            names.push(name.clone());
            neurons.push(i as i64);
        }
    }
    let g = root.create_group("units").map_err(h5)?;
    typed(&g, "core", "Units", meta)?;
    attr_text(
        &g,
        "description",
        "one unit per simulated neuron whose spikes were recorded",
    )?;
    let cols = [text("spike_times")?, text("population")?, text("neuron")?];
    g.new_attr_builder()
        .with_data(&cols[..])
        .create("colnames")
        .map_err(h5)?;
    let ids: Vec<i64> = (0..ends.len() as i64).collect();
    let id = array(&g, "id", &ids)?;
    typed(&id, "hdmf-common", "ElementIdentifiers", meta)?;
    // A column: its values typed as hdmf-common's VectorData.
    let column = |d: hdf5::Dataset, what: &str, meta: &mut Meta<'_>| -> R<hdf5::Dataset> {
        typed(&d, "hdmf-common", "VectorData", meta)?;
        attr_text(&d, "description", what)?;
        Ok(d)
    };
    let st = column(
        array(&g, "spike_times", &times)?,
        "the spike times of each unit in seconds",
        meta,
    )?;
    attr_scalar(&st, "resolution", result.dt)?;
    let idx = array(&g, "spike_times_index", &ends)?;
    typed(&idx, "hdmf-common", "VectorIndex", meta)?;
    attr_text(&idx, "description", "index into spike_times")?;
    let target: hdf5::ObjectReference1 = g.reference("spike_times").map_err(h5)?;
    attr_scalar(&idx, "target", target)?;
    column(
        array(&g, "population", &names)?,
        "the unit's population in the circuit",
        meta,
    )?;
    column(
        array(&g, "neuron", &neurons)?,
        "the unit's index in its population",
        meta,
    )?;
    Ok(())
}

/// A `TimeSeries` in `acquisition` per recorded variable, rate and synapse
/// variable (connectivity has no NWB type here: `circ run` writes it as
/// `.npy`).
fn series(root: &Group, layout: &NetLayout, result: &RunResult, meta: &mut Meta<'_>) -> R<()> {
    let acq = root.group("acquisition").map_err(h5)?;
    for (k, rec) in layout.records.iter().enumerate() {
        let Some(s) = result.samples.get(k) else {
            continue;
        };
        let pop = layout.pops.get(rec.pop).map_or("", |p| p.name.as_str());
        let (name, what, every) = match rec.kind {
            RecordKind::Var { var, every, .. } => {
                let v = layout.pops.get(rec.pop).and_then(|p| p.vars.get(var));
                let v = v.map_or("", |v| v.name.as_str());
                (format!("{pop}_{v}"), format!("{v} of {pop}"), every)
            }
            RecordKind::Rate { window } => (
                format!("{pop}_rate"),
                format!("the rate of {pop}, over {window} steps"),
                window,
            ),
            RecordKind::Synapses {
                proj, var, every, ..
            } => {
                let p = layout.projs.get(proj);
                let v = p
                    .and_then(|p| p.vars.get(var))
                    .map_or("", |v| v.name.as_str());
                let pn = p.map_or("", |p| p.name.as_str());
                (
                    format!("{}_{v}", circ_runtime::output::proj_file_name(pn)),
                    format!("{v} of each synapse of {pn}"),
                    every,
                )
            }
            RecordKind::Spikes | RecordKind::Connectivity { .. } => continue,
        };
        let name = format!("{}{name}", rec.prefix);
        let g = acq.create_group(&name).map_err(h5)?;
        typed(&g, "core", "TimeSeries", meta)?;
        attr_text(&g, "description", &what)?;
        attr_text(&g, "comments", "recorded by circ")?;
        let width = s.width.max(1);
        let rows = s.t.len();
        let values = ndarray::ArrayView2::from_shape((rows, width), &s.values[..rows * width])
            .map_err(|e| format!("NWB: {name}: {e}"))?;
        let data = g
            .new_dataset_builder()
            .with_data(values)
            .create("data")
            .map_err(h5)?;
        attr_text(&data, "unit", &circ_runtime::output::unit_symbol(&rec.unit))?;
        for (a, v) in [
            ("conversion", 1.0f32),
            ("resolution", -1.0),
            ("offset", 0.0),
        ] {
            data.new_attr::<f32>()
                .shape(())
                .create(a)
                .and_then(|x| x.write_scalar(&v))
                .map_err(h5)?;
        }
        if rec.at.is_empty() && rows > 0 {
            // Sampled every `every` steps: a start and a rate.
            let st = g
                .new_dataset::<f64>()
                .shape(())
                .create("starting_time")
                .map_err(h5)?;
            st.write_scalar(&s.t[0]).map_err(h5)?;
            let rate = (1.0 / (every.max(1) as f64 * result.dt)) as f32;
            attr_scalar(&st, "rate", rate)?;
            attr_text(&st, "unit", "seconds")?;
        } else {
            let ts = array(&g, "timestamps", &s.t)?;
            attr_scalar(&ts, "interval", 1i32)?;
            attr_text(&ts, "unit", "seconds")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_have_the_version_4_form() {
        let u = uuid(u128::MAX);
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4", "{u}");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"), "{u}");
        assert_ne!(uuid(1), uuid(2));
    }

    #[test]
    fn units_are_named_by_their_symbols() {
        assert_eq!(circ_runtime::output::unit_symbol("m^2*kg*s^-3*A^-1"), "V");
        assert_eq!(circ_runtime::output::unit_symbol("s^-1"), "Hz");
        assert_eq!(circ_runtime::output::unit_symbol("1"), "");
        assert_eq!(circ_runtime::output::unit_symbol("m^3"), "m^3");
    }
}
