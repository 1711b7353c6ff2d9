"""Applications built on the library: the demo, the quality study, the gallery page, the explorer server and
the ONNX export. The library never imports them; the command does."""
