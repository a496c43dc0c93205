"""Help ▸ Getting Started: the whole journey, from the first layer to the exported file."""

GETTING_STARTED = """\
<h3>Getting started</h3>
<p><b>1. Build</b>: drag layers from the Layers list onto the canvas, or double-click one to append it
after the selected layer (File ▸ New from Template ▸ LeNet-5 gives a ready network). Connect a layer's
output port (right) to another's input port (left).</p>
<p><b>2. Shapes</b>: every connection shows the tensor shape it carries; the Summary lists shapes,
parameters and mult-adds. Errors are red badges: select the layer and the Inspector says what to change.</p>
<p><b>3. Train</b>: <b>F5</b> starts training with the settings in the Training panel (Tools ▸ Train),
<b>F6</b> pauses and resumes, <b>Shift+F5</b> stops. The <b>Data folder</b> is where the dataset's files
are read from (remembered across projects; <code>NETBUILDER_DATA</code> sets it too); when they are not
found, the panel offers to download them, to choose another folder, or to use the <b>bundled MNIST
sample</b>, which trains with no download at all.</p>
<p><b>4. Inspect</b>: the Gradients, Weights and activations, Autograd graph and Training step tabs look
inside the network while and after it trains.</p>
<p><b>5. Export</b>: File ▸ Export Python writes the model as plain PyTorch, with its input shape, the
dataset's mean and std and a <code>preprocess(images)</code> helper; File ▸ Export also writes the trained
weights, ONNX, a standalone training script and the summary table.</p>
<p><b>Navigate</b>: wheel to zoom, middle-drag or Space-drag to pan, F to fit, Ctrl+L to arrange;
File ▸ Project Name… names the project.</p>
"""
