// Co-simulation top level: the generated `fptt_core` with its clock made here.
//
// Every port of the core is a port of this module, so cocotb drives and
// samples it from Python; only the clock is generated in HDL (a free-running
// `always` toggle), so the simulator advances whole cycles without a Python
// callback per edge (cocotb 1.9's Clock is a Python coroutine). Verilator
// builds this with --timing; Icarus with a timescale.
//
// IN_W / OUT_W: widths of the input and output frame payloads (from the
// configuration, fptt.rtl.host.frame_layout / out_layout). HALF_PERIOD in ns.
// Waveforms: Verilator traces through its --trace-fst build; Icarus dumps a
// VCD here when run with +fptt_waves=FILE.
`timescale 1ns/1ps
module fptt_tb #(
    parameter integer IN_W = 1,
    parameter integer OUT_W = 1,
    parameter integer HALF_PERIOD = 5
) (
    output reg              clk,
    input                   rst,
    input      [IN_W-1:0]   i_frame__payload,
    input                   i_frame__valid,
    output                  i_frame__ready,
    output     [OUT_W-1:0]  o_frame__payload,
    output                  o_frame__valid,
    input                   o_frame__ready,
    input      [31:0]       bus__addr,
    input      [31:0]       bus__w_data,
    input                   bus__we,
    input                   bus__stb,
    output                  bus__ack,
    output     [31:0]       bus__r_data,
    output                  bus__err,
    output                  busy
);
    initial clk = 1'b0;
    always #(HALF_PERIOD) clk = ~clk;

`ifndef VERILATOR
    reg [8*1024-1:0] wave_file;
    initial begin
        if ($value$plusargs("fptt_waves=%s", wave_file)) begin
            $dumpfile(wave_file);
            $dumpvars(0, fptt_tb);
        end
    end
`endif

    fptt_core dut (
        .clk(clk),
        .rst(rst),
        .i_frame__payload(i_frame__payload),
        .i_frame__valid(i_frame__valid),
        .i_frame__ready(i_frame__ready),
        .o_frame__payload(o_frame__payload),
        .o_frame__valid(o_frame__valid),
        .o_frame__ready(o_frame__ready),
        .bus__addr(bus__addr),
        .bus__w_data(bus__w_data),
        .bus__we(bus__we),
        .bus__stb(bus__stb),
        .bus__ack(bus__ack),
        .bus__r_data(bus__r_data),
        .bus__err(bus__err),
        .busy(busy)
    );
endmodule
