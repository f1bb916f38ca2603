"""Nonsense parameters raise ParameterError naming the parameter."""

import numpy as np
import pytest
from brian2 import ms, mV, nA

from hnnbio.errors import ParameterError
from hnnbio.neurons.coincidence import build_coincidence
from hnnbio.neurons.lif import build_lif
from hnnbio.neurons.pyramidal import build_pyramidal
from hnnbio.neurons.self_inhibiting import build_self_inhibiting, build_self_inhibiting_discrete
from hnnbio.neurons.stochastic import build_stochastic

BUILDERS = [build_lif, build_self_inhibiting, build_pyramidal]

BAD = [
    # builder, overrides, parameter the message must name
    (build_lif, {"v_threshold": 5 * ms}, "v_threshold"),
    (build_lif, {"tau_mem": -5 * ms}, "tau_mem"),
    (build_lif, {"tau_syn": 5 * mV}, "tau_syn"),
    (build_lif, {"t_ref": -1 * ms}, "t_ref"),
    (build_lif, {"v_reset": -40 * mV}, "v_threshold"),
    (build_lif, {"i_bias": 1.0}, "i_bias"),
    (build_lif, {"tau_mem": np.array([1.0, 2.0]) * ms}, "tau_mem"),
    (build_lif, {"tau_membrane": 5 * ms}, "tau_membrane"),
    (build_lif, {"tau_mem": "fast"}, "tau_mem"),
    (build_self_inhibiting, {"tau_self": 0 * ms}, "tau_self"),
    (build_self_inhibiting, {"w_self": 1 * mV}, "w_self"),
    (build_self_inhibiting, {"gain": -1.0}, "gain"),
    (build_self_inhibiting, {"v_rest": 3 * nA}, "v_rest"),
    (build_self_inhibiting_discrete, {"leak": 1.5}, "leak"),
    (build_self_inhibiting_discrete, {"leak": 0.0}, "leak"),
    (build_self_inhibiting_discrete, {"w_self": 0.1 * mV}, "w_self"),
    (build_self_inhibiting_discrete, {"v_threshold": -1.0}, "v_threshold"),
    (build_coincidence, {"k_inputs": 0}, "k_inputs"),
    (build_coincidence, {"k_inputs": 2.5}, "k_inputs"),
    (build_coincidence, {"window": 3 * mV}, "window"),
    (build_coincidence, {"w_in": -1 * mV}, "w_in"),
    (build_pyramidal, {"g_max": -1.0}, "g_max"),
    (build_pyramidal, {"v_dist_scale": 0 * mV}, "v_dist_scale"),
    (build_pyramidal, {"tau_dist": 2 * mV}, "tau_dist"),
    (build_stochastic, {"refractory_steps": -1}, "refractory_steps"),
    (build_stochastic, {"refractory_steps": 1.5}, "refractory_steps"),
    (build_stochastic, {"gain": 2 * ms}, "gain"),
    (build_stochastic, {"drive": -0.5}, "drive"),
]


@pytest.mark.parametrize("builder, overrides, name", BAD)
def test_bad_parameter_raises_naming_it(builder, overrides, name):
    with pytest.raises(ParameterError, match=name) as info:
        builder(3, **overrides)
    assert "\n" not in str(info.value)
    assert str(info.value).startswith(name)


@pytest.mark.parametrize("builder", BUILDERS + [build_self_inhibiting_discrete, build_coincidence,
                                                 build_stochastic])
@pytest.mark.parametrize("n", [0, -3, 2.5, True])
def test_bad_neuron_count_raises(builder, n):
    with pytest.raises(ParameterError, match="n_neurons"):
        builder(n)


def test_params_object_of_wrong_type_raises():
    from hnnbio.neurons.pyramidal import PyramidalParams

    with pytest.raises(ParameterError, match="params"):
        build_lif(2, PyramidalParams())


def test_params_object_with_overrides():
    from hnnbio.neurons.lif import LIFParams

    group = build_lif(2, LIFParams(tau_mem=20 * ms), i_bias=[0.1, 0.2] * nA)
    assert np.allclose(np.asarray(group.tau_mem / ms), 20.0)
    assert np.allclose(np.asarray(group.i_bias / nA), [0.1, 0.2])
