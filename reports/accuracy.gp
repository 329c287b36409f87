# normbench report: the largest error in ULPs per kernel family and dtype,
# log scale. Run by `normbench report` as
#   gnuplot -e "datafile='x.dat'; out='x'; title='...'; nseries=N; nrows=R; width=W" accuracy.gp
# Data (tab separated): a header line (kernel, then one column per dtype),
# one line per kernel family ('?' = no such kernel). Writes out.png, out.svg.
if (!exists("datafile") || !exists("out") || !exists("nseries") || !exists("nrows")) {
	print "accuracy.gp: set datafile, out, nseries and nrows with -e"
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
set style histogram clustered gap 1
set style fill solid 0.75 border -1
set boxwidth 0.9
set key below center horizontal noenhanced title "storage dtype"
set xrange [-0.6:nrows-0.4]
set logscale y 10
set yrange [0.25:*]
set grid ytics
set xtics rotate by -30 noenhanced
set xlabel 'kernel (variant, direction): worst over ISAs and outputs'
set ylabel 'max error (ULPs of the storage dtype, log scale)'
plot for [i=2:nseries+1] datafile using i:xtic(1) title columnheader(i)

eval sprintf("set terminal svg size %d,%d dynamic noenhanced background rgb 'white'", width, height)
set output out.'.svg'
replot
unset output
