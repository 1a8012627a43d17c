# Ill-typed parameters: a string for an int, a fractional float for an int, a string for
# a bool, a list for a float, a float list where ints are expected, a call where a
# plain value is expected.
pipeline ill_typed {
  stage pool  = synth.igsm(n = "many", ops = [2.5, 3])
  stage init  = model.init(arch = "nano", tie_embeddings = "yes")
  stage tuned = sft(init, pool, epochs = 1.5, lr = [1e-4, 3e-4])
  stage acc   = evaluate(tuned, pool, slice_by = column("ops"), stop = "\n")
}
