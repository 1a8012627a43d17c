# Missing required parameters: `n` of the generators, `path` of load and export.
pipeline missing_required {
  stage pool  = synth.igsm(ops = 2..8)
  stage qa    = load(format = jsonl)
  stage rul   = synth.ruler(task = vt)
  stage out   = export(pool)
}
