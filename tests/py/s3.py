#!/usr/bin/env python3
"""Independent S3 client for the integration tests (boto3 against the local moto server).

    s3.py mkbucket BUCKET
    s3.py keys BUCKET [PREFIX]              -> one key per line
    s3.py download BUCKET PREFIX DEST_DIR   -> every object under PREFIX into DEST_DIR/<key>
    s3.py upload BUCKET KEY FILE
    s3.py iam-user BUCKET                   -> creates an IAM user allowed s3:*, prints its key
                                               id and secret, then creates BUCKET with them
                                               (for a moto started with IAM authentication)

The endpoint comes from ETL_TEST_S3_ENDPOINT; credentials from the AWS_* variables.
"""
import os
import sys

import boto3


def client():
    return boto3.client(
        "s3",
        endpoint_url=os.environ["ETL_TEST_S3_ENDPOINT"],
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
    )


def keys(c, bucket, prefix=""):
    out = []
    for page in c.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out.extend(o["Key"] for o in page.get("Contents", []))
    return sorted(out)


def main(argv):
    c = client()
    cmd = argv[1]
    if cmd == "iam-user":
        iam = boto3.client(
            "iam",
            endpoint_url=os.environ["ETL_TEST_S3_ENDPOINT"],
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        iam.create_user(UserName="etl")
        k = iam.create_access_key(UserName="etl")["AccessKey"]
        iam.put_user_policy(
            UserName="etl",
            PolicyName="s3",
            PolicyDocument='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}',
        )
        s3 = boto3.client(
            "s3",
            endpoint_url=os.environ["ETL_TEST_S3_ENDPOINT"],
            region_name="us-east-1",
            aws_access_key_id=k["AccessKeyId"],
            aws_secret_access_key=k["SecretAccessKey"],
        )
        s3.create_bucket(Bucket=argv[2])
        print(k["AccessKeyId"])
        print(k["SecretAccessKey"])
        return
    if cmd == "mkbucket":
        c.create_bucket(Bucket=argv[2])
    elif cmd == "keys":
        for k in keys(c, argv[2], argv[3] if len(argv) > 3 else ""):
            print(k)
    elif cmd == "download":
        bucket, prefix, dest = argv[2], argv[3], argv[4]
        for k in keys(c, bucket, prefix):
            path = os.path.join(dest, k)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            c.download_file(bucket, k, path)
            print(path)
    elif cmd == "upload":
        c.upload_file(argv[4], argv[2], argv[3])
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main(sys.argv)
