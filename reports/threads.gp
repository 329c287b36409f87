# normbench report: thread scaling, speedup over the fewest threads against
# the thread count, linear scaling dashed. Run by `normbench report` as
#   gnuplot -e "datafile='x.dat'; out='x'; title='...'; nseries=N; maxthreads=T" threads.gp
# Data (tab separated): one block per variant (name line, then threads,
# speedup, CI low, CI high), separated by two blank lines. Writes out.png
# and out.svg.
if (!exists("datafile") || !exists("out") || !exists("nseries") || !exists("maxthreads")) {
	print "threads.gp: set datafile, out, nseries and maxthreads with -e"
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
set xrange [0.5:maxthreads+0.5]
set xtics 1
set yrange [0:*]
set offsets 0, 0, graph 0.08, 0
set grid xtics ytics
set xlabel 'threads'
set ylabel 'speedup over the fewest threads (x), 95% CI'
plot for [i=0:nseries-1] datafile index i using 1:2:3:4 with yerrorlines lw 1.5 title columnheader(1), \
	x with lines dt 2 lc rgb 'black' title 'linear scaling'

eval sprintf("set terminal svg size %d,%d dynamic noenhanced background rgb 'white'", width, height)
set output out.'.svg'
replot
unset output
