# Every literal form: ints with `_` separators and signs, floats (decimal, exponent,
# upper-case exponent with sign), strings with every escape, bools, lists (empty,
# nested, trailing comma).
pipeline literals {
  let big      = 1_000_000
  let negative = -3
  let tiny     = 3e-4
  let micro    = 1e-6
  let big_f    = 2.5E+3
  let half     = 0.5
  let quoted   = "say \"hi\""
  let path     = "C:\\data\\x"
  let lines    = "a\nb\tc"
  let empty_s  = ""
  let yes      = true
  let no       = false
  let empty_l  = []
  let mixed    = [1, 2.5, "three", false, [4, 5],]

  stage data = synth.igsm(n = 1_000, ops = [2, 4, 8], distractors = 0..0, vocab = 1_2_0)
  stage init = model.init(arch = "nano", alphabet = "0123456789+-=\n", tie_embeddings = false,
                          rope_theta = 1e4, max_positions = 512)
  stage tuned = sft(init, data, lr = 1.5e-3, min_lr_ratio = 0.1, packing = true, beta2 = 0.95,
                    warmup_ratio = 0.0)
  stage acc = evaluate(tuned, data, stop = ["\n\n", "Q:", "\"end\"", "tab\there",], temperature = 0.7,
                       top_p = 0.95, samples = 4, k = 2)
}
