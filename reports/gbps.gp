# normbench report: achieved bandwidth against the model width d with the
# machine's copy bandwidth as the roof. Run by `normbench report` as
#   gnuplot -e "datafile='x.dat'; out='x'; title='...'; nseries=N; dram=GBPS" gbps.gp
# Data (tab separated): one block per variant (name line, then d, GB/s, CI
# low, CI high, rows), blocks separated by two blank lines; the last block
# is the roof as a step line (d, GB/s). dram <= 0: no DRAM line. Writes
# out.png and out.svg.
if (!exists("datafile") || !exists("out") || !exists("nseries")) {
	print "gbps.gp: set datafile, out and nseries with -e"
	exit status 2
}
if (!exists("title")) title = ''
if (!exists("dram")) dram = 0
if (!exists("width")) width = 900
height = 600
pngterm = strstrt(GPVAL_TERMINALS, 'pngcairo') > 0 ? 'pngcairo' : 'png'
eval sprintf("set terminal %s size %d,%d noenhanced", pngterm, width, height)
set output out.'.png'

set datafile separator "\t"
set datafile missing '?'
set title title noenhanced
set key below center horizontal noenhanced
set logscale x 2
set format x '%.0f'
set yrange [0:*]
set offsets 0, 0, graph 0.08, 0
set grid xtics ytics
set xlabel 'model width d (elements per row, log scale)'
set ylabel 'bandwidth (GB/s = 1e9 bytes/s)'
dramtitle = dram > 0 ? sprintf('copy beyond the caches (DRAM): %.1f GB/s', dram) : ''
plot for [i=0:nseries-1] datafile index i using 1:2:3:4 with yerrorlines lw 1.5 title columnheader(1), \
	datafile index nseries using 1:2 with lines dt 2 lw 2 lc rgb 'black' title columnheader(1), \
	(dram > 0 ? dram : 1/0) with lines dt 3 lw 1.5 lc rgb 'red' title dramtitle

eval sprintf("set terminal svg size %d,%d dynamic noenhanced background rgb 'white'", width, height)
set output out.'.svg'
replot
unset output
