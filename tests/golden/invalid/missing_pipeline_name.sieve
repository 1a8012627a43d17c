# A file of bare items can be imported, but it cannot be run: it has no pipeline name.
let seed = 1
stage pool = synth.igsm(n = 1_000)
