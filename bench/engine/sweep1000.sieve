# Engine-overhead benchmark (bench/engine/run.sh): 1,000 cheap, independent stage
# instances from one 10 x 10 x 10 sweep. Each cell generates one 1-digit addition
# problem (a one-row Parquet dataset), so almost all of the wall time is the engine's:
# start-up, planning, keys, cache look-ups, scheduling, committing and lock-file work.
pipeline sweep1000 {
  sweep a in 0..9, b in 0..9, c in 0..9 {
    stage s = synth.arith(n = 1, digits = 1, seed = a*100 + b*10 + c)
  }
}
