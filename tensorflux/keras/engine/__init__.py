"""The Keras engine: symbolic KerasTensors, graph Nodes, Input, and tracing helpers."""
