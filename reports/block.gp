# normbench report: end-to-end transformer layer time per normalization
# arrangement against the sequence length. Run by `normbench report` as
#   gnuplot -e "datafile='x.dat'; out='x'; title='...'; nseries=N; lcs='1 2'; dts='1 1'" block.gp
# Data (tab separated): one block per arrangement (name line, then tokens,
# ms, CI low, CI high), separated by two blank lines. Writes out.png, out.svg.
if (!exists("datafile") || !exists("out") || !exists("nseries")) {
	print "block.gp: set datafile, out and nseries with -e"
	exit status 2
}
if (!exists("title")) title = ''
if (!exists("width")) width = 900
height = 520
pngterm = strstrt(GPVAL_TERMINALS, 'pngcairo') > 0 ? 'pngcairo' : 'png'
eval sprintf("set terminal %s size %d,%d noenhanced", pngterm, width, height)
set output out.'.png'

set datafile separator "\t"
set datafile missing '?'
set title title noenhanced
set key below center horizontal noenhanced
set logscale x 2
set logscale y 10
set format x '%.0f'
set offsets graph 0.05, graph 0.05, 0, 0
set grid xtics ytics
set xlabel 'sequence length (tokens per layer call, log scale)'
set ylabel 'time per layer (ms, median, 95% CI, log scale)'
if (!exists("lcs")) lcs = ''
if (!exists("dts")) dts = ''
# colour per arrangement and dash per model width when lcs/dts list them
lc_of(i) = words(lcs) > i ? int(word(lcs, i + 1)) : i + 1
dt_of(i) = words(dts) > i ? int(word(dts, i + 1)) : 1
plot for [i=0:nseries-1] datafile index i using 1:2:3:4 with yerrorlines lw 1.5 \
	lc lc_of(i) dt dt_of(i) title columnheader(1)

eval sprintf("set terminal svg size %d,%d dynamic noenhanced background rgb 'white'", width, height)
set output out.'.svg'
replot
unset output
