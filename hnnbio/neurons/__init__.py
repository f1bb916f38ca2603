"""Brian2 equation-level neuron models, one module each (equations, parameters, state, builder).

=====================  ============================================================================
module                 model
=====================  ============================================================================
``lif``                leaky integrate-and-fire, current-based exponential synapses (NIR names)
``self_inhibiting``    HIFI: autapse self-inhibition; continuous and published discrete step
``coincidence``        exact coincidence detector: k inputs within a window (box potentials)
``pyramidal``          two compartments, distal (apical) input multiplies the proximal gain
``plateau``            NMDA-like distal dendrite: Mg-block bistability, a plateau gating the soma
``stochastic``         stochastic gated unit, P(spike) = drive x gain, r refractory steps
``segments``           NeuTNN: proximal/distal dendritic segments (coincidence events) on a soma
=====================  ============================================================================

Every builder ``build_<model>(n_neurons, params=None, *, name=None, dt=None, **overrides)``
returns one ``NeuronGroup`` (``segments``: a :class:`~hnnbio.neurons.segments.SegmentNeuron` of
two groups and their event pathways); any parameter may be an array of shape (n_neurons,) (a
heterogeneous population is one group). Nonsense parameters raise
:class:`hnnbio.errors.ParameterError` naming the parameter.
"""
