#!/usr/bin/env python3
"""Reference traces of NEST's integrate-and-fire neurons, for the standard
library's models of the same names (stdlib/neurons.circ).

One neuron of each model with NEST's default parameters, a constant current
I_e that keeps it just under threshold, and spikes from spike_generators:
excitatory at 20.0, 20.5, 21.0, 40.0 and 41.0 ms, inhibitory at 60.0 ms
(delay 0.1 ms, the resolution). Writes nest_<Model>.csv (t in s, V_m in V,
sampled every 0.1 ms: NEST's multimeter value at time t, which is circ's
sample at the start of the step at t) and nest_<Model>_spikes.csv (NEST's
spike times in s: the end of the step whose update crossed threshold) next to
this script. The tests read the files and need no Python.

  python3 stdlib_nest.py        # needs NEST (pip install "nest-simulator==3.10.*")
"""
import os
import nest

HERE = os.path.dirname(os.path.abspath(__file__))
EXC = [20.0, 20.5, 21.0, 40.0, 41.0]
INH = [60.0]
MODELS = {
    # circ model: (NEST model, I_e in pA, excitatory weight, inhibitory weight)
    "IafPscExp": ("iaf_psc_exp", 350.0, 300.0, -300.0),
    "IafPscAlpha": ("iaf_psc_alpha", 350.0, 300.0, -300.0),
    "IafCondExp": ("iaf_cond_exp", 230.0, 60.0, -30.0),
    "IafCondAlpha": ("iaf_cond_alpha", 230.0, 20.0, -5.0),
}


def main():
    try:
        nest.verbosity = nest.VerbosityLevel.ERROR
    except AttributeError:
        nest.set_verbosity("M_ERROR")
    for name, (model, i_e, w_exc, w_inh) in MODELS.items():
        nest.ResetKernel()
        nest.resolution = 0.1
        n = nest.Create(model, params={"I_e": i_e})
        exc = nest.Create("spike_generator", params={"spike_times": EXC})
        inh = nest.Create("spike_generator", params={"spike_times": INH})
        nest.Connect(exc, n, syn_spec={"weight": w_exc, "delay": 0.1})
        nest.Connect(inh, n, syn_spec={"weight": w_inh, "delay": 0.1})
        mm = nest.Create("multimeter", params={"record_from": ["V_m"], "interval": 0.1})
        sr = nest.Create("spike_recorder")
        nest.Connect(mm, n)
        nest.Connect(n, sr)
        nest.Simulate(100.0)
        ev = mm.get("events")
        with open(os.path.join(HERE, f"nest_{name}.csv"), "w") as f:
            f.write("t,V_m\n")
            for t, v in zip(ev["times"], ev["V_m"]):
                f.write(f"{t / 1e3:.6e},{v / 1e3:.17e}\n")
        with open(os.path.join(HERE, f"nest_{name}_spikes.csv"), "w") as f:
            f.write("t\n")
            for t in sr.get("events")["times"]:
                f.write(f"{t / 1e3:.6e}\n")
        print(name, model, len(sr.get("events")["times"]), "spikes")


if __name__ == "__main__":
    main()
