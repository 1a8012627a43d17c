# Name clashes: a stage defined twice, a variable defined twice, a name that is both a
# variable and a stage (stages and variables share one namespace).
pipeline duplicate_names {
  let seed = 1
  stage pool = synth.igsm(n = 1_000)
  stage init = model.init(arch = "nano")
  let seed = 2
  stage pool = synth.igsm(n = 2_000)
  let init = "tiny"
}
