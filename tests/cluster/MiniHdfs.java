// An HDFS mini-cluster (one namenode, one datanode) on 127.0.0.1 for the cluster test.
//
//   java -cp <hadoop-client-minicluster + hadoop-client-api/runtime jars> MiniHdfs.java <base dir>
//
// Runs with Java's single-file source launcher: no build step. Prints "READY hdfs://127.0.0.1:<port>"
// on stdout once the datanode has registered, then serves until its stdin closes: the parent
// test process holds the other end of that pipe, so the cluster stops when the test stops it or
// when the test process dies, however it dies. SIGTERM stops it cleanly too.
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.MiniDFSCluster;

public class MiniHdfs {
    public static void main(String[] args) throws IOException, InterruptedException {
        if (args.length != 1) {
            System.err.println("usage: MiniHdfs.java <base dir>");
            System.exit(2);
        }
        Configuration conf = new Configuration();
        // Every daemon endpoint on the loopback address only, on ports the OS picks.
        conf.set("dfs.namenode.rpc-address", "127.0.0.1:0");
        conf.set("dfs.namenode.http-address", "127.0.0.1:0");
        conf.set("dfs.datanode.address", "127.0.0.1:0");
        conf.set("dfs.datanode.http.address", "127.0.0.1:0");
        conf.set("dfs.datanode.ipc.address", "127.0.0.1:0");
        // Clients (Spark executors, the Rust client of delta-rs) reach the datanode by this address.
        conf.set("dfs.datanode.hostname", "127.0.0.1");
        conf.setBoolean("dfs.client.use.datanode.hostname", false);
        // One datanode: one replica per block; tiny test files need no 128 MiB blocks.
        conf.setInt("dfs.replication", 1);
        conf.setBoolean("dfs.permissions.enabled", false);

        MiniDFSCluster cluster = new MiniDFSCluster.Builder(conf, new File(args[0]))
                .numDataNodes(1)
                .checkDataNodeAddrConfig(true)  // keep the 127.0.0.1 datanode addresses above
                .checkExitOnShutdown(false)
                .build();
        cluster.waitActive();
        AtomicBoolean stopped = new AtomicBoolean(false);
        Runnable stop = () -> {
            if (stopped.compareAndSet(false, true)) {
                cluster.shutdown(true);  // true: delete the data folders
            }
        };
        Runtime.getRuntime().addShutdownHook(new Thread(stop));  // SIGTERM, SIGINT
        System.out.println("READY hdfs://127.0.0.1:" + cluster.getNameNodePort());
        System.out.flush();

        InputStream stdin = System.in;
        while (stdin.read() != -1) {
            // Anything written is ignored: only end-of-file (the parent closed the pipe or died) matters.
        }
        stop.run();
        System.exit(0);
    }
}
