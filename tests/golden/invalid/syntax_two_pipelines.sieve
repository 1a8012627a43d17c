# Structure: a second `pipeline` block, and a stage outside the block.
pipeline first {
  stage pool = synth.igsm(n = 1_000)
}

pipeline second {
  stage test = synth.igsm(n = 100)
}

stage stray = synth.igsm(n = 10)
