# normbench report: speedup bars per variant against LayerNorm (one figure
# per machine, dtype and direction). Run by `normbench report` as
#   gnuplot -e "datafile='x.dat'; out='x'; title='...'; nseries=N; nrows=R; width=W; logy=0" speedup.gp
# Data (tab separated): a header line, then per configuration its label and
# for each series the speedup, the CI low and high ('?' = not measured).
# Writes out.png and out.svg.
if (!exists("datafile") || !exists("out") || !exists("nseries") || !exists("nrows")) {
	print "speedup.gp: set datafile, out, nseries and nrows with -e"
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
set style data histogram
set style histogram errorbars gap 2 lw 1
set style fill solid 0.75 border -1
set boxwidth 0.9
set key below center horizontal noenhanced
set xrange [-0.6:nrows-0.4]
if (!exists("logy")) logy = 0
# ratios spanning more than a decade are drawn on a log axis (0.5x and 2x
# then sit symmetric around the baseline)
if (logy) {
	set logscale y 2
	set yrange [*:*]
	set offsets 0, 0, graph 0.08, graph 0.08
} else {
	set yrange [0:*]
	set offsets 0, 0, graph 0.08, 0
}
set grid ytics
set xtics rotate by -30 noenhanced
set ylabel sprintf('speedup over LayerNorm (x, 95%% CI%s)', logy ? ', log scale' : '')
set xlabel 'shape (rows x d) and threads'
plot for [i=0:nseries-1] datafile using (column(2+3*i)):(column(3+3*i)):(column(4+3*i)):xtic(1) title columnheader(2+3*i), \
	1 with lines dt 2 lw 1.5 lc rgb 'black' title 'baseline (= 1)'

eval sprintf("set terminal svg size %d,%d dynamic noenhanced background rgb 'white'", width, height)
set output out.'.svg'
replot
unset output
